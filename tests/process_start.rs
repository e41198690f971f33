//! Process start (issue 19): the program must not load the ~30 shared libraries Debian's
//! shared libhdf5 drags in (libcurl and libcrypto for its S3 driver, then gnutls, krb5, ldap,
//! ...), whose loading and initialisers cost ~6 ms of CPU per process. build.rs links the
//! system's static HDF5 where it has one (SMMCOOL_HDF5_LINK_KIND=static); the dynamic loader,
//! asked to list what it loads (LD_TRACE_LOADED_OBJECTS, what ldd does), must then name no
//! HDF5, curl or crypto library, and the program must still write and read HDF5 (the batch
//! tests do so through this binary).

use std::process::Command;

fn loaded_libraries() -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_smmcool"))
        .env("LD_TRACE_LOADED_OBJECTS", "1")
        .output()
        .expect("running the dynamic loader's listing");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.contains(".so"))
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn the_program_loads_no_shared_hdf5_and_none_of_its_network_libraries() {
    let libs = loaded_libraries();
    // Every HDF5 program loads libc and the loader itself.
    assert!(libs.iter().any(|l| l.starts_with("libc.so")), "{libs:#?}");
    match env!("SMMCOOL_HDF5_LINK_KIND") {
        "static" => {
            for name in [
                "libhdf5",
                "libcurl",
                "libcrypto",
                "libssl",
                "libgnutls",
                "libkrb5",
            ] {
                assert!(
                    !libs.iter().any(|l| l.starts_with(name)),
                    "{name} loaded: {libs:#?}"
                );
            }
            // libsz, libaec, libz, libm, libgcc_s, libc, the loader and the vDSO.
            assert!(libs.len() <= 10, "{} libraries: {libs:#?}", libs.len());
        }
        kind => {
            assert_eq!(kind, "dynamic");
            assert!(libs.iter().any(|l| l.starts_with("libhdf5")), "{libs:#?}");
        }
    }
}
