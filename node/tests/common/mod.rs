//! What several node tests share. Each test file uses part of it.
#![allow(dead_code)]

pub mod attackers;
pub mod devices;
