//! What the end-to-end tests share: the binary, run with a clean SLURM environment.
#![allow(dead_code)] // each test crate uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `smmcool` binary, outside any SLURM array.
pub fn smmcool() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_smmcool"));
    c.env_remove("SLURM_ARRAY_TASK_ID");
    c
}

/// Run `smmcool args`.
pub fn run(args: &[&str]) -> Output {
    smmcool().args(args).output().expect("the binary runs")
}

/// Run `smmcool args`, which must succeed.
pub fn run_ok(args: &[&str]) -> Output {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The one JSON document `smmcool args` prints (it must succeed).
pub fn json(args: &[&str]) -> serde_json::Value {
    serde_json::from_slice(&run_ok(args).stdout).expect("one JSON document on stdout")
}

/// Write `text` to `dir/name`.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `simulate` of the paper's field change 0.5 T -> 0.1 T from 4 K as a jump, with `extra`
/// arguments after it.
pub fn jump_4k<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "simulate",
        "--b-initial-t",
        "0.5",
        "--b-final-t",
        "0.1",
        "--initial-temperature-k",
        "4",
        "--jump",
    ];
    args.extend_from_slice(extra);
    args
}

/// The `unit` attribute of an HDF5 dataset.
pub fn unit_of(ds: &hdf5::Dataset) -> String {
    ds.attr("unit")
        .expect("a unit attribute")
        .read_scalar::<hdf5::types::VarLenUnicode>()
        .expect("a string")
        .as_str()
        .to_owned()
}
