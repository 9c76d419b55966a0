pub mod fault;
pub mod node;
pub mod rate;
pub mod routing;
pub mod storage;
pub mod testnet;
