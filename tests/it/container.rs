//! Container rules (spec §1): one gzip member holding a tar, bounded sizes, and the entries a
//! node looks at.

use std::io::{self, Cursor, Read};

use crate::support::assert_refused;
use crate::support::bundle::*;
use flate2::read::GzEncoder as GzReader;
use flate2::Compression;
use mpk_registry::bundle::Limits;
use mpk_registry::report::Rule;
use mpk_registry::verify::{verify_reader, Options};
use serde_json::{Map, Value};
use tar::EntryType;

fn manifest_bytes() -> Vec<u8> {
    to_bytes(&signed(base_manifest(), &key(1)))
}

fn with_limits(bytes: &[u8], limits: Limits) -> mpk_registry::verify::Report {
    verify_with(
        bytes,
        &Options {
            limits,
            ..Default::default()
        },
    )
}

/// Verifies a gzip stream produced while it is read: manifest and artifacts, then `extra`
/// (raw tar bytes from a reader), then the end of the archive. Nothing large is held.
fn verify_streamed(extra: impl Read) -> mpk_registry::verify::Report {
    let head = plain_tar(|t| {
        t.file("manifest.json", &manifest_bytes())?;
        t.file("app.wasm", WASM)?;
        t.file("abi.json", ABI)
    });
    let head = &head[..head.len() - 1024]; // drop the end marker; `extra` continues the tar
    let tar = Cursor::new(head.to_vec())
        .chain(extra)
        .chain(Cursor::new(vec![0u8; 1024]));
    verify_reader(
        GzReader::new(tar, Compression::fast()),
        "streamed.mpk",
        &Options::default(),
    )
}

/// A tar header block for a regular file `name` of `size` bytes (checksum set).
fn header_block(name: &str, entry_type: EntryType, size: u64) -> Vec<u8> {
    let tar = TarWriter::new(Vec::new());
    let mut header = tar.header(name.as_bytes(), entry_type, size);
    header.set_cksum();
    header.as_bytes().to_vec()
}

fn valid_plain_tar() -> Vec<u8> {
    let manifest = manifest_bytes();
    plain_tar(|t| {
        t.file("manifest.json", &manifest)?;
        t.file("app.wasm", WASM)?;
        t.file("abi.json", ABI)
    })
}

// --- gzip -----------------------------------------------------------------------------------

#[test]
fn gzip_plain_tar_is_refused() {
    let tar = valid_plain_tar();
    assert_ok(&verify(&gzip(&tar)));
    assert_refused(&verify(&tar), "archive", Rule::Gzip);
}

#[test]
fn gzip_random_bytes_are_refused() {
    assert_ok(&verify(&gzip(&valid_plain_tar())));
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert_refused(&verify(&noise), "archive", Rule::Gzip);
    assert_refused(&verify(b""), "archive", Rule::Gzip);
}

#[test]
fn gzip_truncated_stream_is_refused() {
    let whole = gzip(&valid_plain_tar());
    assert_ok(&verify(&whole));
    // Cut inside the gzip trailer (CRC and length) and inside the deflate data.
    for cut in [whole.len() - 4, whole.len() / 2] {
        let report = verify(&whole[..cut]);
        assert_refused(&report, "archive", Rule::Gzip);
    }
}

#[test]
fn gzip_crc_mismatch_is_refused() {
    let mut bytes = gzip(&valid_plain_tar());
    let crc = bytes.len() - 8;
    bytes[crc] ^= 0xff;
    assert_refused(&verify(&bytes), "archive", Rule::Gzip);
}

#[test]
fn trailing_data_second_gzip_member() {
    let bundle = gzip(&valid_plain_tar());
    assert_ok(&verify(&bundle));
    let mut two = bundle.clone();
    two.extend(gzip(b"a second member"));
    assert_refused(&verify(&two), "archive", Rule::TrailingData);
    // Even a second copy of the whole archive.
    let mut doubled = bundle.clone();
    doubled.extend(&bundle);
    assert_refused(&verify(&doubled), "archive", Rule::TrailingData);
}

#[test]
fn trailing_data_garbage_after_the_stream() {
    assert_ok(&verify(&gzip(&valid_plain_tar())));
    let bundle = gzip(&valid_plain_tar());
    for tail in [&b"garbage"[..], &[0u8; 512][..], &[0u8][..]] {
        let mut bytes = bundle.clone();
        bytes.extend_from_slice(tail);
        assert_refused(&verify(&bytes), "archive", Rule::TrailingData);
    }
}

#[test]
fn trailing_data_leaves_no_bundle_digest() {
    let mut bytes = gzip(&valid_plain_tar());
    bytes.push(b'!');
    let report = verify(&bytes);
    assert!(report.bundle.is_none());
    // The manifest was read (and is shown by inspect) even though the bundle is refused.
    assert!(report.manifest.is_some());
}

// --- tar ------------------------------------------------------------------------------------

#[test]
fn tar_corrupt_header_checksum() {
    let manifest = manifest_bytes();
    let build = |corrupt: bool| {
        bundle(|t| {
            t.file("manifest.json", &manifest)?;
            let mut header = t.header(b"app.wasm", EntryType::Regular, WASM.len() as u64);
            header.set_cksum();
            if corrupt {
                header.set_mtime(1); // changes a counted byte after the checksum was set
            }
            t.raw_header(&header)?;
            t.data(WASM, WASM.len() as u64)?;
            t.file("abi.json", ABI)
        })
    };
    assert_ok(&verify(&build(false)));
    assert_refused(&verify(&build(true)), "archive", Rule::Tar);
}

#[test]
fn tar_truncated_inside_an_entry() {
    assert_ok(&verify(&gzip(&valid_plain_tar())));
    let tar = valid_plain_tar();
    // Stop half-way through app.wasm's data block.
    let manifest_blocks = 512 + manifest_bytes().len().div_ceil(512) * 512;
    let cut = manifest_blocks + 512 + 4;
    let report = verify(&gzip(&tar[..cut]));
    assert_refused(&report, "archive", Rule::Tar);
}

#[test]
fn tar_gnu_sparse_entries_are_refused() {
    let manifest = manifest_bytes();
    let build = |entry_type: EntryType| {
        bundle(|t| {
            t.file("manifest.json", &manifest)?;
            t.file("app.wasm", WASM)?;
            t.file("abi.json", ABI)?;
            let mut header = t.header(b"sparse.bin", entry_type, 0);
            header.set_cksum();
            t.raw_header(&header)
        })
    };
    assert_ok(&verify(&build(EntryType::Regular)));
    assert_refused(&verify(&build(EntryType::GNUSparse)), "archive", Rule::Tar);
}

#[test]
fn ustar_headers_are_accepted() {
    let manifest = manifest_bytes();
    let bytes = bundle_with(Format::Ustar, |t| {
        t.file("manifest.json", &manifest)?;
        t.file("app.wasm", WASM)?;
        t.file("abi.json", ABI)
    });
    assert_ok(&verify(&bytes));
}

// --- size cap -------------------------------------------------------------------------------

#[test]
fn size_cap_600_mib_of_zeros() {
    // Control: the same layout with a small zero entry verifies.
    let small = header_block("padding.bin", EntryType::Regular, 4096);
    let report = verify_streamed(Cursor::new(small).chain(Repeat::zeros(4096)));
    assert_ok(&report);

    let big = 600 * MIB;
    let header = header_block("padding.bin", EntryType::Regular, big);
    let report = verify_streamed(Cursor::new(header).chain(Repeat::zeros(big)));
    assert_refused(&report, "archive", Rule::SizeCap);
}

#[test]
fn size_cap_counts_every_decompressed_byte() {
    let tar = valid_plain_tar();
    let bytes = gzip(&tar);
    let exact = Limits {
        decompressed_cap: tar.len() as u64,
        ..Default::default()
    };
    assert_ok(&with_limits(&bytes, exact));
    let under = Limits {
        decompressed_cap: tar.len() as u64 - 1,
        ..Default::default()
    };
    assert_refused(&with_limits(&bytes, under), "archive", Rule::SizeCap);
}

#[test]
fn size_cap_counts_bytes_after_the_end_of_the_tar() {
    // Zeros after the end-of-archive marker are still decompressed and counted.
    let mut tar = valid_plain_tar();
    let limits = Limits {
        decompressed_cap: tar.len() as u64 + 512,
        ..Default::default()
    };
    assert_ok(&with_limits(&gzip(&tar), limits));
    tar.extend(vec![0u8; 1024]);
    assert_refused(&with_limits(&gzip(&tar), limits), "archive", Rule::SizeCap);
}

// --- extension headers ----------------------------------------------------------------------

#[test]
fn extension_header_64_mib_gnu_long_name() {
    // Control: a long name of ordinary length for an entry nobody asks for.
    let name = format!("assets/{}.png", "n".repeat(200));
    let long = name.as_bytes().to_vec();
    let mut control = Vec::new();
    control.extend(header_block(
        "././@LongLink",
        EntryType::GNULongName,
        long.len() as u64,
    ));
    control.extend(&long);
    control.resize(control.len().div_ceil(512) * 512, 0);
    control.extend(header_block(&name, EntryType::Regular, 0));
    assert_ok(&verify_streamed(Cursor::new(control)));

    let size = 64 * MIB;
    let header = header_block("././@LongLink", EntryType::GNULongName, size);
    let bomb = Cursor::new(header)
        .chain(Repeat::byte(b'a', size))
        .chain(Cursor::new(header_block("aaaa", EntryType::Regular, 0)));
    let report = verify_streamed(bomb);
    assert_refused(&report, "archive", Rule::ExtensionHeader);
}

#[test]
fn extension_header_limit_is_64_kib() {
    let manifest = manifest_bytes();
    let build = |len: u64| {
        bundle(|t| {
            t.file("manifest.json", &manifest)?;
            t.file("app.wasm", WASM)?;
            t.file("abi.json", ABI)?;
            t.gnu_long_name_from(len, Repeat::byte(b'x', len))?;
            t.file("xxxx", b"")
        })
    };
    assert_ok(&verify(&build(64 << 10)));
    assert_refused(
        &verify(&build((64 << 10) + 1)),
        "archive",
        Rule::ExtensionHeader,
    );
}

#[test]
fn extension_header_large_pax_header() {
    let manifest = manifest_bytes();
    let comment = vec![b'c'; 70 << 10];
    let build = |records: &[(&str, &[u8])]| {
        bundle(|t| {
            t.file("manifest.json", &manifest)?;
            t.file("app.wasm", WASM)?;
            t.file("abi.json", ABI)?;
            t.pax(records)?;
            t.file("notes.txt", b"hi")
        })
    };
    assert_ok(&verify(&build(&[("comment", b"short")])));
    assert_refused(
        &verify(&build(&[("comment", &comment)])),
        "archive",
        Rule::ExtensionHeader,
    );
}

#[test]
fn extension_header_pax_size_override() {
    let manifest = manifest_bytes();
    let build = |records: &[(&str, &[u8])]| {
        bundle(|t| {
            t.file("manifest.json", &manifest)?;
            t.pax(records)?;
            t.file("app.wasm", WASM)?;
            t.file("abi.json", ABI)
        })
    };
    assert_ok(&verify(&build(&[("path", b"app.wasm")])));
    let report = verify(&build(&[("path", b"app.wasm"), ("size", b"4")]));
    assert_refused(&report, "archive", Rule::ExtensionHeader);
}

#[test]
fn pax_path_names_the_entry() {
    let manifest = manifest_bytes();
    let build = |pax: bool| {
        bundle(|t| {
            t.file("manifest.json", &manifest)?;
            if pax {
                t.pax(&[("path", b"app.wasm"), ("mtime", b"1700000000.5")])?;
            }
            t.file("placeholder", WASM)?;
            t.file("abi.json", ABI)
        })
    };
    assert_ok(&verify(&build(true)));
    assert_refused(&verify(&build(false)), "app.wasm", Rule::ArtifactMissing);
}

#[test]
fn gnu_long_name_names_the_artifact() {
    let path = format!("services/{}.wasm", "long".repeat(40));
    assert!(path.len() > 100);
    let mut manifest = base_manifest();
    manifest.insert("wasm".into(), artifact(&path, WASM));
    let manifest = to_bytes(&signed(manifest, &key(1)));
    let build = |long_header: bool| {
        bundle(|t| {
            t.file("manifest.json", &manifest)?;
            if long_header {
                t.long_named_file(&path, WASM)?;
            } else {
                t.file(&path, WASM)?; // truncated to 100 bytes
            }
            t.file("abi.json", ABI)
        })
    };
    assert_ok(&verify(&build(true)));
    assert_refused(&verify(&build(false)), &path, Rule::ArtifactMissing);
}

#[test]
fn two_long_names_for_one_entry_are_refused() {
    let manifest = manifest_bytes();
    let build = |both: bool| {
        bundle(|t| {
            t.file("manifest.json", &manifest)?;
            t.pax(&[("path", b"app.wasm")])?;
            if both {
                t.gnu_long_name_from(9, &b"app.wasm\0"[..])?;
            }
            t.file("app.wasm", WASM)?;
            t.file("abi.json", ABI)
        })
    };
    assert_ok(&verify(&build(false)));
    assert_refused(&verify(&build(true)), "archive", Rule::Tar);
}

#[test]
fn long_name_header_at_the_end_is_refused() {
    let manifest = manifest_bytes();
    let build = |dangling: bool| {
        bundle(|t| {
            t.file("manifest.json", &manifest)?;
            t.file("app.wasm", WASM)?;
            t.file("abi.json", ABI)?;
            if dangling {
                t.gnu_long_name_from(9, &b"dangling\0"[..])?;
            }
            Ok(())
        })
    };
    assert_ok(&verify(&build(false)));
    assert_refused(&verify(&build(true)), "archive", Rule::Tar);
}

// --- the manifest entry ---------------------------------------------------------------------

#[test]
fn manifest_missing() {
    assert_ok(&verify(&gzip(&valid_plain_tar())));
    let bytes = bundle(|t| {
        t.file("app.wasm", WASM)?;
        t.file("abi.json", ABI)
    });
    assert_refused(&verify(&bytes), "manifest.json", Rule::ManifestMissing);
    let empty = bundle(|_| Ok(()));
    assert_refused(&verify(&empty), "manifest.json", Rule::ManifestMissing);
}

#[test]
fn manifest_missing_when_only_nested() {
    assert_ok(&verify(&gzip(&valid_plain_tar())));
    let manifest = manifest_bytes();
    for nested in [
        "old/manifest.json",
        "./old/manifest.json",
        "x/./manifest.json",
    ] {
        let bytes = bundle(|t| {
            t.file(nested, &manifest)?;
            t.file("app.wasm", WASM)?;
            t.file("abi.json", ABI)
        });
        assert_refused(&verify(&bytes), "manifest.json", Rule::ManifestMissing);
    }
}

#[test]
fn manifest_offset_when_it_starts_after_8_mib() {
    let manifest = manifest_bytes();
    let build = |padding: u64| {
        bundle(|t| {
            t.file_from("padding.bin", padding, Repeat::zeros(padding))?;
            t.file("manifest.json", &manifest)?;
            t.file("app.wasm", WASM)?;
            t.file("abi.json", ABI)
        })
    };
    // The manifest's header starts at 512 + padding.
    assert_ok(&verify(&build(8 * MIB - 1024)));
    let report = verify(&build(8 * MIB - 512));
    assert_refused(&report, "manifest.json", Rule::ManifestOffset);
    assert!(report.problems[0].message.contains("the first 8 MiB"));
    assert!(report.manifest.is_none(), "a late manifest is not read");
}

#[test]
fn manifest_missing_within_the_first_8_mib() {
    // The first entry past the window is not the manifest: reading stops there, and the
    // manifest further on is never reached.
    let manifest = manifest_bytes();
    let padding = 8 * MIB;
    let bytes = bundle(|t| {
        t.file_from("padding.bin", padding, Repeat::zeros(padding))?;
        t.file("app.wasm", WASM)?;
        t.file("manifest.json", &manifest)?;
        t.file("abi.json", ABI)
    });
    let report = verify(&bytes);
    assert_refused(&report, "manifest.json", Rule::ManifestMissing);
    assert!(report.problems[0].message.contains("the first 8 MiB"));
    assert!(report.manifest.is_none());
}

#[test]
fn manifest_window_counts_its_extension_headers() {
    // A pax header that starts inside the window and a manifest header that starts
    // after it: the entry begins where its first header does.
    let manifest = manifest_bytes();
    let padding = 8 * MIB - 1024;
    let bytes = bundle(|t| {
        t.file_from("padding.bin", padding, Repeat::zeros(padding))?;
        t.pax(&[("path", b"manifest.json")])?;
        t.file("placeholder", &manifest)?;
        t.file("app.wasm", WASM)?;
        t.file("abi.json", ABI)
    });
    assert_ok(&verify(&bytes));
}

#[test]
fn manifest_size_over_1_mib() {
    // Pads the signed manifest with an unknown field until it is exactly `len` bytes.
    let sized = |len: usize| {
        let mut manifest = base_manifest();
        manifest.insert("x-padding".into(), Value::String(String::new()));
        let current = to_bytes(&signed(manifest.clone(), &key(1))).len();
        manifest.insert("x-padding".into(), Value::String("p".repeat(len - current)));
        let bytes = to_bytes(&signed(manifest, &key(1)));
        assert_eq!(bytes.len(), len);
        bytes
    };
    let build = |manifest: &[u8]| {
        bundle(|t| {
            t.file("manifest.json", manifest)?;
            t.file("app.wasm", WASM)?;
            t.file("abi.json", ABI)
        })
    };
    assert_ok(&verify(&build(&sized(1 << 20))));
    let report = verify(&build(&sized((1 << 20) + 1)));
    assert_refused(&report, "manifest.json", Rule::ManifestSize);
    assert!(
        report.manifest.is_none(),
        "an oversized manifest is not read"
    );
}

#[test]
fn manifest_duplicate() {
    let manifest = manifest_bytes();
    let build = |second: Option<&str>| {
        bundle(|t| {
            t.file("manifest.json", &manifest)?;
            t.file("app.wasm", WASM)?;
            t.file("abi.json", ABI)?;
            if let Some(name) = second {
                t.file(name, &manifest)?;
            }
            Ok(())
        })
    };
    assert_ok(&verify(&build(None)));
    for second in ["./manifest.json", "manifest.json"] {
        let report = verify(&build(Some(second)));
        assert_refused(&report, "manifest.json", Rule::ManifestDuplicate);
    }
}

#[test]
fn manifest_duplicate_reported_once_for_three_copies() {
    let manifest = manifest_bytes();
    let bytes = bundle(|t| {
        t.file("manifest.json", &manifest)?;
        t.file("./manifest.json", b"{}")?;
        t.file("manifest.json", b"{}")?;
        t.file("app.wasm", WASM)?;
        t.file("abi.json", ABI)
    });
    let report = verify(&bytes);
    assert_refused(&report, "manifest.json", Rule::ManifestDuplicate);
    assert_eq!(report.problems.len(), 1);
}

#[test]
fn manifest_not_a_regular_file() {
    let build = |kind: &str| {
        let manifest = manifest_bytes();
        bundle(|t| {
            match kind {
                "symlink" => t.symlink("manifest.json", "real.json")?,
                "hardlink" => t.hardlink("manifest.json", "real.json")?,
                "directory" => t.directory("manifest.json")?,
                _ => t.file("manifest.json", &manifest)?,
            }
            t.file("real.json", &manifest)?;
            t.file("app.wasm", WASM)?;
            t.file("abi.json", ABI)
        })
    };
    assert_ok(&verify(&build("file")));
    for kind in ["symlink", "hardlink", "directory"] {
        let report = verify(&build(kind));
        assert_refused(&report, "manifest.json", Rule::ManifestNotFile);
    }
}

#[test]
fn manifest_may_follow_its_artifacts() {
    // Entries before the manifest are remembered and checked once it is read.
    let manifest = manifest_bytes();
    let build = |wasm: &[u8]| {
        bundle(|t| {
            t.file("app.wasm", wasm)?;
            t.file("abi.json", ABI)?;
            t.file("manifest.json", &manifest)
        })
    };
    assert_ok(&verify(&build(WASM)));
    assert_refused(&verify(&build(WASM_TAMPERED)), "app.wasm", Rule::Digest);
}

// --- artifact entries -----------------------------------------------------------------------

fn artifact_layout(fill: impl FnOnce(&mut Tar) -> io::Result<()>) -> Vec<u8> {
    let manifest = manifest_bytes();
    bundle(|t| {
        t.file("manifest.json", &manifest)?;
        t.file("abi.json", ABI)?;
        fill(t)
    })
}

#[test]
fn artifact_missing() {
    assert_ok(&verify(&artifact_layout(|t| t.file("app.wasm", WASM))));
    let report = verify(&artifact_layout(|_| Ok(())));
    assert_refused(&report, "app.wasm", Rule::ArtifactMissing);
    // In a folder is not at the path.
    let report = verify(&artifact_layout(|t| t.file("build/app.wasm", WASM)));
    assert_refused(&report, "app.wasm", Rule::ArtifactMissing);
}

#[test]
fn artifact_duplicate() {
    assert_ok(&verify(&artifact_layout(|t| t.file("app.wasm", WASM))));
    for second in ["./app.wasm", "app.wasm"] {
        let report = verify(&artifact_layout(|t| {
            t.file("app.wasm", WASM)?;
            t.file(second, WASM)
        }));
        assert_refused(&report, "app.wasm", Rule::ArtifactDuplicate);
    }
}

#[test]
fn artifact_not_file_symlink() {
    assert_ok(&verify(&artifact_layout(|t| t.file("app.wasm", WASM))));
    let report = verify(&artifact_layout(|t| {
        t.file("real.wasm", WASM)?;
        t.symlink("app.wasm", "real.wasm")
    }));
    assert_refused(&report, "app.wasm", Rule::ArtifactNotFile);
    assert_says(&report, "is a symlink, not a regular file");
}

#[test]
fn artifact_not_file_hardlink() {
    assert_ok(&verify(&artifact_layout(|t| t.file("app.wasm", WASM))));
    let report = verify(&artifact_layout(|t| {
        t.file("real.wasm", WASM)?;
        t.hardlink("app.wasm", "real.wasm")
    }));
    assert_refused(&report, "app.wasm", Rule::ArtifactNotFile);
    assert_says(&report, "is a hardlink, not a regular file");
}

#[test]
fn artifact_not_file_directory_with_trailing_slash() {
    let report = verify(&artifact_layout(|t| t.directory("app.wasm/")));
    assert_rules(&report, &[Rule::ArtifactNotFile]);
}

#[test]
fn artifact_not_file_directory() {
    assert_ok(&verify(&artifact_layout(|t| t.file("app.wasm", WASM))));
    let report = verify(&artifact_layout(|t| t.directory("app.wasm")));
    assert_refused(&report, "app.wasm", Rule::ArtifactNotFile);
    assert_says(&report, "is a directory, not a regular file");
}

#[test]
fn artifact_not_file_fifo() {
    assert_ok(&verify(&artifact_layout(|t| t.file("app.wasm", WASM))));
    let report = verify(&artifact_layout(|t| {
        let header = t.header(b"app.wasm", EntryType::Fifo, 0);
        t.entry(header, io::empty())
    }));
    assert_refused(&report, "app.wasm", Rule::ArtifactNotFile);
    assert_says(&report, "is a special file, not a regular file");
}

/// The one problem of `report` says `text` (the kind of entry found, say).
#[track_caller]
fn assert_says(report: &mpk_registry::verify::Report, text: &str) {
    assert!(
        report.problems[0].message.contains(text),
        "{:?} does not say {text:?}",
        report.problems[0].message
    );
}

// --- what is accepted -----------------------------------------------------------------------

#[test]
fn dot_slash_prefixed_entries_are_accepted() {
    let manifest = manifest_bytes();
    let bytes = bundle(|t| {
        t.directory("./")?;
        t.file("./manifest.json", &manifest)?;
        t.file("./app.wasm", WASM)?;
        t.file("./abi.json", ABI)
    });
    assert_ok(&verify(&bytes));
}

#[test]
fn apple_double_and_other_entries_are_ignored() {
    let manifest = manifest_bytes();
    let bytes = bundle(|t| {
        t.file("./._manifest.json", b"AppleDouble")?;
        t.file("manifest.json", &manifest)?;
        t.file("._app.wasm", b"AppleDouble")?;
        t.file("app.wasm", WASM)?;
        t.file("abi.json", ABI)?;
        t.directory("src/")?;
        t.file("src/lib.rs", b"fn main() {}")?;
        t.symlink("link", "/etc/passwd")?;
        t.file("README.md", b"# readme")
    });
    let report = verify(&bytes);
    assert_ok(&report);
    assert!(report.warnings.is_empty());
}

#[test]
fn artifacts_in_subfolders_are_accepted() {
    let mut manifest = base_manifest();
    manifest.insert("wasm".into(), artifact("build/release/app.wasm", WASM));
    manifest.insert("abi".into(), artifact("abi/abi.json", ABI));
    let manifest = to_bytes(&signed(manifest, &key(1)));
    let bytes = bundle(|t| {
        t.file("manifest.json", &manifest)?;
        t.file("build/release/app.wasm", WASM)?;
        t.file("./abi/abi.json", ABI)
    });
    let report = verify(&bytes);
    assert_ok(&report);
    let paths: Vec<&str> = report
        .bundle
        .as_ref()
        .expect("verified")
        .artifacts
        .iter()
        .map(|a| a.path.as_str())
        .collect();
    assert_eq!(paths, ["build/release/app.wasm", "abi/abi.json"]);
}

#[test]
fn bundle_facts_describe_the_file() {
    let bytes = standard(&signed(base_manifest(), &key(1)));
    let report = verify(&bytes);
    assert_ok(&report);
    let bundle = report.bundle.expect("verified");
    assert_eq!(bundle.bundle_sha256, sha256_hex(&bytes));
    assert_eq!(bundle.bundle_size, bytes.len() as u64);
    assert_eq!(bundle.manifest_bytes, manifest_bytes());
    assert_eq!(bundle.manifest_sha256, sha256_hex(&manifest_bytes()));
    assert_eq!(bundle.package, "com.example.app");
    assert_eq!(bundle.app_version, "1.0.0");
    assert_eq!(bundle.min_runtime_version, "0.1.0");
    let described: Vec<(String, String, u64)> = bundle
        .artifacts
        .iter()
        .map(|a| (a.field.clone(), a.sha256.clone(), a.size))
        .collect();
    assert_eq!(
        described,
        [
            ("wasm".to_owned(), sha256_hex(WASM), WASM.len() as u64),
            ("abi".to_owned(), sha256_hex(ABI), ABI.len() as u64),
        ]
    );
}

#[test]
fn verify_file_reports_a_missing_file_as_io() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = mpk_registry::verify::verify_file(
        &dir.path().join("absent.mpk"),
        "absent.mpk",
        &Options::default(),
    );
    assert_refused(&report, "absent.mpk", Rule::Io);
}

#[test]
fn verify_file_reports_a_directory_as_io() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = mpk_registry::verify::verify_file(dir.path(), "a-folder", &Options::default());
    assert_refused(&report, "a-folder", Rule::Io);
}

#[test]
fn verify_file_and_verify_reader_agree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = standard(&signed(base_manifest(), &key(1)));
    let path = dir.path().join("b.mpk");
    std::fs::write(&path, &bytes).expect("write");
    let from_file = mpk_registry::verify::verify_file(&path, "b.mpk", &Options::default());
    assert_ok(&from_file);
    let from_reader = verify(&bytes);
    assert_eq!(
        from_file.bundle.expect("verified").bundle_sha256,
        from_reader.bundle.expect("verified").bundle_sha256
    );
    let _: Option<Map<String, Value>> = from_file.manifest;
}

// --- entry names as path components --------------------------------------------------------
//
// A node compares entry names by path components (Rust's `Path::components`), so `./`, `.`
// components, repeated `/` and a trailing `/` spell the same entry. Each test below records the
// node's verdict beside the registry's; where they differ, the registry is stricter on purpose
// (README, "Bundle rules").

/// The standard bundle with one more entry, `name`, holding a second manifest.
fn with_second_manifest(name: &str) -> mpk_registry::verify::Report {
    let manifest = manifest_bytes();
    verify(&bundle(|t| {
        t.file("manifest.json", &manifest)?;
        t.file("app.wasm", WASM)?;
        t.file("abi.json", ABI)?;
        t.file(name, b"{\"package\": \"other\"}")
    }))
}

/// The standard bundle whose `app.wasm` is also written as `name` (a second entry).
fn with_second_artifact(name: &str) -> mpk_registry::verify::Report {
    verify(&artifact_layout(|t| {
        t.file("app.wasm", WASM)?;
        t.file(name, WASM_TAMPERED)
    }))
}

#[test]
fn manifest_alias_dot_components() {
    // Node: refused, more than one entry at manifest.json. Registry: the same.
    assert_refused(
        &with_second_manifest("././manifest.json"),
        "manifest.json",
        Rule::ManifestDuplicate,
    );
}

#[test]
fn manifest_alias_trailing_slash() {
    // Node: refused, more than one entry at manifest.json. Registry: the same.
    assert_refused(
        &with_second_manifest("manifest.json/"),
        "manifest.json",
        Rule::ManifestDuplicate,
    );
}

#[test]
fn manifest_alias_repeated_slash_after_dot() {
    // Node: refused, more than one entry at manifest.json. Registry: refused for the name.
    assert_refused(
        &with_second_manifest(".//manifest.json"),
        ".//manifest.json",
        Rule::EntryEmptyComponent,
    );
}

#[test]
fn manifest_alias_trailing_double_slash() {
    // Node: refused, more than one entry at manifest.json. Registry: refused for the name.
    assert_refused(
        &with_second_manifest("manifest.json//"),
        "manifest.json//",
        Rule::EntryEmptyComponent,
    );
}

#[test]
fn manifest_alias_only_spelling_is_the_manifest() {
    // The one manifest, spelled with `.` components: node and registry both read it.
    let manifest = manifest_bytes();
    let report = verify(&bundle(|t| {
        t.file("./././manifest.json", &manifest)?;
        t.file("./app.wasm", WASM)?;
        t.file("abi.json", ABI)
    }));
    assert_ok(&report);
}

#[test]
fn artifact_alias_dot_component() {
    // Node: refused, more than one entry at app.wasm. Registry: the same.
    assert_refused(
        &with_second_artifact("./././app.wasm"),
        "app.wasm",
        Rule::ArtifactDuplicate,
    );
}

#[test]
fn artifact_alias_trailing_slash() {
    // Node: refused, more than one entry at app.wasm. Registry: the same.
    assert_refused(
        &with_second_artifact("app.wasm/"),
        "app.wasm",
        Rule::ArtifactDuplicate,
    );
}

/// The services bundle with one more entry `name` holding other bytes.
fn services_with_extra(name: &str) -> mpk_registry::verify::Report {
    let manifest = to_bytes(&signed(services_manifest(), &key(1)));
    verify(&bundle(|t| {
        t.file("manifest.json", &manifest)?;
        for (path, bytes) in services_files() {
            t.file(path, bytes)?;
        }
        t.file(name, WASM_TAMPERED)
    }))
}

#[test]
fn artifact_alias_interior_dot_component() {
    // Node: refused, more than one entry at services/store.wasm. Registry: the same.
    assert_refused(
        &services_with_extra("services/./store.wasm"),
        "services/store.wasm",
        Rule::ArtifactDuplicate,
    );
}

#[test]
fn artifact_alias_repeated_slash() {
    // Node: refused, more than one entry at services/store.wasm. Registry: refused for the name.
    assert_refused(
        &services_with_extra("services//store.wasm"),
        "services//store.wasm",
        Rule::EntryEmptyComponent,
    );
}

#[test]
fn artifact_declared_with_dot_components_matches_its_entry() {
    // A declared path and an entry name are compared by components on both sides.
    let mut manifest = base_manifest();
    manifest.insert("wasm".into(), artifact("./bin/./app.wasm", WASM));
    let text = to_bytes(&signed(manifest, &key(1)));
    let report = verify(&bundle(|t| {
        t.file("manifest.json", &text)?;
        t.file("bin/app.wasm", WASM)?;
        t.file("abi.json", ABI)
    }));
    assert_ok(&report);
}

#[test]
fn entry_parent_component() {
    // Node: ignores `a/../manifest.json` (it is not the manifest) and accepts. Registry:
    // refused, since unpacking the bundle with tar would write outside the folder.
    assert_ok(&with_second_manifest("a/manifest.json"));
    let report = with_second_manifest("a/../manifest.json");
    assert_refused(&report, "a/../manifest.json", Rule::EntryParent);
    assert_says(&report, "has a '..' component");
    assert_refused(
        &with_second_manifest("../escape.txt"),
        "../escape.txt",
        Rule::EntryParent,
    );
}

#[test]
fn entry_absolute() {
    // Node: ignores `/manifest.json` (another path) and accepts. Registry: refused.
    let report = with_second_manifest("/manifest.json");
    assert_refused(&report, "/manifest.json", Rule::EntryAbsolute);
    assert_says(&report, "is absolute");
}

#[test]
fn entry_empty_component_anywhere() {
    // Node: accepts an unrelated `docs//readme.txt`. Registry: refused (a second spelling of
    // docs/readme.txt); a folder's single trailing `/` is how tar names folders, and fine.
    let manifest = manifest_bytes();
    let build = |name: &'static str| {
        verify(&bundle(|t| {
            t.directory("./")?;
            t.file("manifest.json", &manifest)?;
            t.file("app.wasm", WASM)?;
            t.file("abi.json", ABI)?;
            t.directory("docs/")?;
            t.file(name, b"hello")
        }))
    };
    assert_ok(&build("docs/readme.txt"));
    assert_refused(
        &build("docs//readme.txt"),
        "docs//readme.txt",
        Rule::EntryEmptyComponent,
    );
}

#[test]
fn entry_names_refused_once_per_rule_with_a_count() {
    let manifest = manifest_bytes();
    let report = verify(&bundle(|t| {
        t.file("manifest.json", &manifest)?;
        t.file("app.wasm", WASM)?;
        t.file("abi.json", ABI)?;
        for i in 0..5 {
            t.file(&format!("../x{i}"), b"")?;
        }
        Ok(())
    }));
    assert_refused(&report, "../x0", Rule::EntryParent);
    assert_eq!(report.problems.len(), 1);
    assert!(
        report.problems[0]
            .message
            .contains("(4 more entries like it)"),
        "{}",
        report.problems[0].message
    );
}

#[test]
fn entries_after_the_manifest_are_recorded_only_when_declared() {
    // Once the manifest is read, only the paths it declares are hashed and kept: an archive of
    // many other entries costs no memory for them.
    use mpk_registry::bundle::{scan, Limits};
    use mpk_registry::report::Findings;
    use std::collections::BTreeSet;
    let manifest = manifest_bytes();
    let bytes = bundle(|t| {
        t.file("manifest.json", &manifest)?;
        t.file("app.wasm", WASM)?;
        t.file("notes.txt", b"not declared")
    });
    let mut findings = Findings::default();
    let mut declared = |_: &[u8], _: &mut Findings| Some(BTreeSet::from(["app.wasm".to_owned()]));
    let scanned = scan(
        bytes.as_slice(),
        Limits::default(),
        &mut findings,
        &mut declared,
    );
    assert_eq!(
        scanned.entries.keys().collect::<Vec<_>>(),
        ["app.wasm"],
        "undeclared entries are not kept"
    );
}
