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

/// The Python interpreter of the tests that read files with h5py/xarray: `SMMCOOL_PYTHON`
/// (scripts/test.sh points it at the test environment it prepares, which has h5py, xarray and
/// h5netcdf), else `python3` on the PATH.
pub fn python() -> Command {
    Command::new(std::env::var_os("SMMCOOL_PYTHON").unwrap_or_else(|| "python3".into()))
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

/// Run `smmcool args`, which must exit with `code` and print one line on stderr holding every
/// one of `parts`; its output.
pub fn one_line_error(args: &[&str], code: i32, parts: &[&str]) -> Output {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    for part in parts {
        assert!(err.contains(part), "{part:?} not in {err}");
    }
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

/// Everything `file` holds, bit for bit, as (HDF5 path, value) pairs in a fixed order: every
/// group, dataset and attribute (floats by their bits), except what must differ between two
/// invocations: the wall and creation times (`wall_time_s` at the root and in the summary,
/// `created_unix_s`), the `command_line` (the resume adds `--resume`, the outputs are named
/// differently), and the dimension-scale links (`DIMENSION_LIST`, `REFERENCE_LIST`: file
/// addresses, not data; the `CLASS`/`NAME` of each scale are compared).
pub fn contents_without_timing(file: &std::path::Path) -> Vec<(String, String)> {
    use hdf5::types::{FloatSize, IntSize, TypeDescriptor as T, VarLenAscii, VarLenUnicode};
    fn value(c: &hdf5::Container, what: &str) -> String {
        let d = c.dtype().unwrap().to_descriptor().unwrap();
        let shape = format!("{:?} ", c.shape());
        shape
            + &match d {
                T::Float(FloatSize::U8) => format!(
                    "{:x?}",
                    c.read_raw::<f64>()
                        .unwrap()
                        .iter()
                        .map(|x| x.to_bits())
                        .collect::<Vec<_>>()
                ),
                T::Float(FloatSize::U4) => format!(
                    "{:x?}",
                    c.read_raw::<f32>()
                        .unwrap()
                        .iter()
                        .map(|x| x.to_bits())
                        .collect::<Vec<_>>()
                ),
                T::Integer(_) | T::Enum(_) | T::Boolean => {
                    format!("{d:?} {:?}", c.read_raw::<i64>().unwrap())
                }
                T::Unsigned(IntSize::U8) | T::Unsigned(_) => {
                    format!("{d:?} {:?}", c.read_raw::<u64>().unwrap())
                }
                T::VarLenUnicode => format!("{:?}", c.read_raw::<VarLenUnicode>().unwrap()),
                T::VarLenAscii => format!("{:?}", c.read_raw::<VarLenAscii>().unwrap()),
                // Fixed-length strings (the dimension scales' CLASS and NAME) converted to one
                // longer fixed length.
                T::FixedAscii(n) if n <= 256 => format!(
                    "{:?}",
                    c.read_raw::<hdf5::types::FixedAscii<256>>().unwrap()
                ),
                T::FixedUnicode(n) if n <= 256 => format!(
                    "{:?}",
                    c.read_raw::<hdf5::types::FixedUnicode<256>>().unwrap()
                ),
                other => panic!("{what}: no comparison for the type {other:?}"),
            }
    }
    fn attrs(loc: &hdf5::Location, path: &str, out: &mut Vec<(String, String)>) {
        let mut names = loc.attr_names().unwrap();
        names.sort();
        for n in names {
            let skip = ["DIMENSION_LIST", "REFERENCE_LIST"].contains(&n.as_str())
                || (path == "/"
                    && ["wall_time_s", "created_unix_s", "command_line"].contains(&n.as_str()));
            if !skip {
                let what = format!("{path}@{n}");
                let v = value(&loc.attr(&n).unwrap(), &what);
                out.push((what, v));
            }
        }
    }
    fn walk(g: &hdf5::Group, path: &str, out: &mut Vec<(String, String)>) {
        attrs(g, path, out);
        let mut names = g.member_names().unwrap();
        names.sort();
        for n in names {
            let child = format!("{}/{n}", path.trim_end_matches('/'));
            if let Ok(sub) = g.group(&n) {
                walk(&sub, &child, out);
            } else {
                let ds = g.dataset(&n).unwrap();
                attrs(&ds, &child, out);
                if child != "/summary/wall_time_s" {
                    let v = value(&ds, &child);
                    out.push((child, v));
                }
            }
        }
    }
    let f = hdf5::File::open(file).unwrap();
    let mut out = Vec::new();
    walk(&f, "/", &mut out);
    assert!(out.len() > 50, "{} entries", out.len());
    out
}

/// The `<text>` elements of an SVG written by plotters (one attribute list, the content on
/// the next line): each element's attribute list and its content, XML entities decoded.
pub fn svg_text_elements(svg: &str) -> Vec<(&str, String)> {
    svg.split("<text")
        .skip(1)
        .map(|part| {
            let (tag, rest) = part.split_once('>').unwrap();
            let text = rest
                .split("</text>")
                .next()
                .unwrap()
                .trim()
                .replace("&apos;", "'")
                .replace("&quot;", "\"")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&");
            (tag, text)
        })
        .collect()
}

/// The value of attribute `name` in an SVG element's attribute list `tag`, if present.
pub fn svg_attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    Some(tag[start..start + tag[start..].find('"')?].to_string())
}

/// A figure's data file (`series,x,y` rows after a header; the series name may hold commas):
/// the points of each series in file order.
pub fn read_series_csv(path: &Path) -> std::collections::HashMap<String, Vec<(f64, f64)>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out: std::collections::HashMap<String, Vec<(f64, f64)>> =
        std::collections::HashMap::new();
    for line in text.lines().skip(1) {
        let mut it = line.rsplitn(3, ',');
        let y: f64 = it.next().unwrap().parse().unwrap();
        let x: f64 = it.next().unwrap().parse().unwrap();
        out.entry(it.next().unwrap().to_string())
            .or_default()
            .push((x, y));
    }
    out
}

/// The numbers of every line of a reference table (`scripts/*_reference.txt`: whitespace
/// separated, comment lines start with `#`), one vector per line.
pub fn reference_rows(text: &str) -> Vec<Vec<f64>> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            l.split_whitespace()
                .map(|x| x.parse().expect("a number"))
                .collect()
        })
        .collect()
}

/// <m> = sum_m m n_m of the populations `n` of the levels m = -S..S (2S + 1 of them).
pub fn mean_m(n: &[f64]) -> f64 {
    let s = (n.len() - 1) as f64 / 2.0;
    n.iter().enumerate().map(|(i, x)| (i as f64 - s) * x).sum()
}
