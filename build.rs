//! Records the git revision of the build for the provenance of output files, links HDF5
//! statically where the system's HDF5 has a static archive (see `link_hdf5_statically`), and
//! checks the CRC-32 of the shipped tables (see `check_preset_tables`).
use std::path::{Path, PathBuf};

fn main() {
    let rev = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=SMMCOOL_GIT_REVISION={rev}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    link_hdf5_statically();
    check_preset_tables();
}

/// The tables shipped with the program (`data/preset_tables.bin`, src/kinetics/preset.rs)
/// carry a CRC-32 of their contents after the 8-byte magic and the 4-byte CRC itself. It is
/// checked here, once per build, instead of in every process that runs (issue 19: ~170,000
/// instructions and a read of the whole 350 KB file in every lone run): the program uses the
/// tables only if `SMMCOOL_PRESET_TABLES_CRC` is `ok`, and `tests/preset_tables.rs` checks the
/// CRC again with the crc32fast crate. An empty file (scripts/regenerate_preset_tables.sh
/// empties it before writing it anew) ships no tables.
fn check_preset_tables() {
    const PATH: &str = "data/preset_tables.bin";
    println!("cargo:rerun-if-changed={PATH}");
    let data = std::fs::read(PATH).unwrap_or_default();
    let verdict = if data.is_empty() {
        "empty".to_string()
    } else if data.len() < 12 || &data[..8] != b"SMMTAB01" {
        "not a table file".to_string()
    } else {
        let stored = u32::from_le_bytes([data[8], data[9], data[10], data[11]]);
        let computed = crc32(&data[12..]);
        if stored == computed {
            "ok".to_string()
        } else {
            format!("CRC-32 mismatch (stored {stored:08x}, computed {computed:08x})")
        }
    };
    if verdict != "ok" && verdict != "empty" {
        println!(
            "cargo:warning={PATH}: {verdict}; the program builds every table itself: run scripts/regenerate_preset_tables.sh"
        );
    }
    println!("cargo:rustc-env=SMMCOOL_PRESET_TABLES_CRC={verdict}");
}

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320: what `crc32fast::hash` computes).
fn crc32(bytes: &[u8]) -> u32 {
    let table: Vec<u32> = (0..256u32)
        .map(|i| {
            (0..8).fold(i, |c, _| {
                if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                }
            })
        })
        .collect();
    !bytes.iter().fold(!0u32, |c, &b| {
        table[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8)
    })
}

/// Process start (issue 19). Debian's shared libhdf5 needs libcurl and libcrypto (for its S3
/// driver), which bring ~30 more shared libraries (gnutls, krb5, ldap, ...): loading them,
/// relocating them and running their initialisers cost ~6 ms of CPU in every process, several
/// times what `smmcool --version` does otherwise. Where the HDF5 that pkg-config names (the
/// one hdf5-metno-sys finds) has static archives `libhdf5.a` and `libhdf5_hl.a` and a
/// `libhdf5.settings` listing their dependencies, this writes linker scripts of those names
/// into OUT_DIR and puts that directory first on the library search path. The `-lhdf5` of
/// hdf5-metno-sys and the `-lhdf5_hl` of src/io/hdf5.rs then take the objects of the archives
/// the program uses, and each dependency only if a used object needs it (AS_NEEDED: the S3
/// driver is never used, so libcurl and libcrypto drop out). Cargo puts a package's own search
/// paths before its dependencies' and passes them on to the packages that depend on this one:
/// the Python extension depends on smmcool without the `static-hdf5` feature (on by default),
/// as a shared object cannot hold a distribution's non-PIC archive.
///
/// Kept dynamic (as before) without the `static-hdf5` feature, when HDF5_DIR is set (a user's own HDF5, which hdf5-metno-sys
/// uses), when SMMCOOL_HDF5_LINK=dynamic, or when the archives or the settings are not found
/// (SMMCOOL_HDF5_LINK=static makes that an error).
fn link_hdf5_statically() {
    let linked_statically = link_hdf5_statically_if_possible();
    // tests/process_start.rs checks the libraries the program loads accordingly.
    let kind = if linked_statically {
        "static"
    } else {
        "dynamic"
    };
    println!("cargo:rustc-env=SMMCOOL_HDF5_LINK_KIND={kind}");
}

fn link_hdf5_statically_if_possible() -> bool {
    println!("cargo:rerun-if-env-changed=SMMCOOL_HDF5_LINK");
    println!("cargo:rerun-if-env-changed=HDF5_DIR");
    let choice = std::env::var("SMMCOOL_HDF5_LINK").unwrap_or_default();
    if std::env::var_os("CARGO_FEATURE_STATIC_HDF5").is_none()
        || choice == "dynamic"
        || std::env::var_os("HDF5_DIR").is_some()
    {
        return false;
    }
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return false;
    }
    let Some((archive, deps)) = static_hdf5() else {
        if choice == "static" {
            panic!("SMMCOOL_HDF5_LINK=static: no libhdf5.a with libhdf5.settings next to the HDF5 that pkg-config names");
        }
        return false;
    };
    let dir =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("hdf5-static");
    std::fs::create_dir_all(&dir).expect("creating OUT_DIR/hdf5-static");
    let deps = deps
        .iter()
        .map(|d| format!("-l{d}"))
        .collect::<Vec<_>>()
        .join(" ");
    // src/io/hdf5.rs links the high-level library (-lhdf5_hl, before -lhdf5 on the command
    // line): its archive needs the main archive after it.
    let hl = archive.with_file_name("libhdf5_hl.a");
    for (name, inputs) in [
        ("libhdf5.a", vec![&archive]),
        ("libhdf5_hl.a", vec![&hl, &archive]),
    ] {
        let inputs: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
        let script = format!(
            "/* smmcool build.rs: the static HDF5, its dependencies as needed */\nINPUT({} AS_NEEDED({deps}))\n",
            inputs.join(" ")
        );
        std::fs::write(dir.join(name), script).expect("writing a linker script");
    }
    println!("cargo:rerun-if-changed={}", archive.display());
    println!("cargo:rustc-link-search=native={}", dir.display());
    true
}

/// The static archive of the HDF5 pkg-config names and the libraries its settings file lists.
fn static_hdf5() -> Option<(PathBuf, Vec<String>)> {
    let library = pkg_config::Config::new()
        .cargo_metadata(false)
        .env_metadata(false)
        .probe("hdf5")
        .ok()?;
    library.link_paths.iter().find_map(|dir| archive_in(dir))
}

fn archive_in(dir: &Path) -> Option<(PathBuf, Vec<String>)> {
    let archive = dir.join("libhdf5.a");
    let settings = std::fs::read_to_string(dir.join("libhdf5.settings")).ok()?;
    if !archive.is_file() || !archive.with_file_name("libhdf5_hl.a").is_file() {
        return None;
    }
    // "Extra libraries: -lcrypto -lcurl -lpthread -lsz -lz -ldl -lm"
    let line = settings
        .lines()
        .find_map(|l| l.trim().strip_prefix("Extra libraries:"))?;
    let deps: Option<Vec<String>> = line
        .split_whitespace()
        .map(|w| w.strip_prefix("-l").map(str::to_string))
        .collect();
    Some((archive, deps?))
}
