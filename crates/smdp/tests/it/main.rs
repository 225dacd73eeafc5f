//! The SM-DP+ end to end, one test binary: ES9+ over TLS with the test LPA and the virtual
//! eUICC (`es9`, `es9_rows`, `es9_mutations`), the operator REST API (`rest`, `callbacks`,
//! `sdk`), and the `smdp` command itself (`cli`, `serve`).

mod binding;
mod callbacks;
mod cli;
mod common;
mod crash;
mod es2;
mod es9;
mod es9_mutations;
mod es9_rows;
mod faults;
mod fixtures;
mod hostile;
mod lpa;
mod manufactured;
mod nodes;
mod rest;
mod sdk;
mod security;
mod serve;
mod sgp32;
