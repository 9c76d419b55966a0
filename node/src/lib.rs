pub mod fault;
pub mod node;
pub mod rate;
pub mod storage;
pub mod testnet;
