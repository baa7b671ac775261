//! The `.proto` front end (feature `build`): descriptors -> prost-build ->
//! our [`ServiceGenerator`](prost_build::ServiceGenerator).

mod descriptors;
mod error;
mod options;
mod service_gen;

use std::io;
use std::path::{Path, PathBuf};

pub use self::error::{Error, ProtoError};
use self::options::MethodOptions;
use self::service_gen::RpcServiceGenerator;
use crate::GenConfig;

/// Where the file descriptors come from.
///
/// See the [crate docs](crate#where-descriptors-come-from) for the reasoning
/// behind the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protoc {
    /// `protoc` from the `PROTOC` environment variable if it is set; otherwise
    /// protox, falling back to the vendored `protoc` (feature `vendored-protoc`)
    /// when protox rejects the input.
    #[default]
    Auto,
    /// Only protox (pure Rust, no external binary).
    Protox,
    /// The system `protoc`: `$PROTOC`, or `protoc` on `PATH` (prost-build's lookup).
    System,
    /// The `protoc` shipped by the `protoc-bin-vendored` crate (feature `vendored-protoc`).
    Vendored,
}

/// Compiles one `.proto` file (and what it imports) with the default
/// configuration.
///
/// Imports are looked up, as `protoc -I` would with these folders in this
/// order, in the file's own folder and then in each folder above it in the
/// path: a relative path ends with `.`, the current directory (`protoc`'s
/// default include folder, and the package's folder when cargo runs a build
/// script); an absolute path ends with the current directory if the file is
/// in it, else with the file-system root. For
/// `proto/inventory/v1/inventory.proto` the include folders are
/// `proto/inventory/v1`, `proto/inventory`, `proto` and `.`, so both
/// `import "item.proto";` (next to the file) and
/// `import "common/v1/money.proto";` (relative to `proto/`) resolve. The first
/// folder that has the import wins. An import that is found nowhere is an
/// error listing the folders searched.
///
/// To choose the include folders yourself, use
/// [`configure()`]`.`[`compile_protos(files, includes)`](Builder::compile_protos).
///
/// ```rust,no_run
/// // build.rs
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     rpc_codegen::compile_protos("proto/helloworld.proto")?;
///     Ok(())
/// }
/// ```
pub fn compile_protos(proto: impl AsRef<Path>) -> Result<(), Error> {
    let proto = proto.as_ref();
    configure().compile_protos(&[proto], &default_includes(proto))
}

/// The include folders of [`compile_protos`]: the file's folder, then each
/// folder above it, ending with the current directory when the file is in it
/// (`""`, the end of a relative path, is written `.`).
fn default_includes(proto: &Path) -> Vec<PathBuf> {
    let cwd = std::env::current_dir()
        .ok()
        .filter(|cwd| proto.is_absolute() && proto.starts_with(cwd));
    let mut includes = Vec::new();
    for dir in proto.ancestors().skip(1) {
        includes.push(if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir.to_path_buf()
        });
        if cwd.as_deref() == Some(dir) {
            break;
        }
    }
    includes
}

/// Compiles `.proto` files into an encoded `FileDescriptorSet`, with protox
/// (pure Rust: no `protoc`, whatever [`Protoc`] a [`Builder`] would use), and
/// generates no code.
///
/// The set holds the files, everything they import (the well-known types too),
/// dependencies first, with source info (comments) and extension options: what
/// a reflection service serves, and what
/// `prost_reflect::DescriptorPool::decode` reads. Type names resolve as
/// `protoc` resolves them (see the [crate docs](crate#where-descriptors-come-from)).
/// `protos` and `includes` work as in [`Builder::compile_protos`]; an invalid
/// file is an [`Error`] naming the file, line and column.
///
/// ```rust,no_run
/// // build.rs: a descriptor set for `rpc_reflection::include_file_descriptor_set!`
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
///     let set = rpc_codegen::compile_descriptor_set(&["route_guide.proto"], &["proto"])?;
///     std::fs::write(out_dir.join("route_guide.bin"), set)?;
///     Ok(())
/// }
/// ```
pub fn compile_descriptor_set(
    protos: &[impl AsRef<Path>],
    includes: &[impl AsRef<Path>],
) -> Result<Vec<u8>, Error> {
    let includes = include_folders(includes);
    let protos = resolve_inputs(protos, &includes)?;
    descriptors::compile(&protos, &includes)
        .map(|compiled| compiled.encode_file_descriptor_set())
        .map_err(|err| ProtoError::from_protox(&err, &includes).into())
}

/// Starts a [`Builder`] with the default configuration.
pub fn configure() -> Builder {
    Builder {
        build_client: true,
        build_server: true,
        crate_path: "::rpc_core".to_string(),
        prost_path: None,
        prost_types_path: None,
        out_dir: None,
        prost: prost_build::Config::new(),
        file_descriptor_set_path: None,
        emit_rerun_if_changed: true,
        client_mod_attributes: Vec::new(),
        server_mod_attributes: Vec::new(),
        send_compression: Vec::new(),
        protoc: Protoc::Auto,
        compile_well_known_types: false,
    }
}

/// Configures and runs code generation; shaped like `tonic_build::Builder`.
#[derive(Debug)]
#[must_use]
pub struct Builder {
    build_client: bool,
    build_server: bool,
    crate_path: String,
    prost_path: Option<String>,
    prost_types_path: Option<String>,
    out_dir: Option<PathBuf>,
    prost: prost_build::Config,
    file_descriptor_set_path: Option<PathBuf>,
    emit_rerun_if_changed: bool,
    client_mod_attributes: Vec<(String, String)>,
    server_mod_attributes: Vec<(String, String)>,
    send_compression: Vec<(String, crate::Compression)>,
    protoc: Protoc,
    compile_well_known_types: bool,
}

impl Builder {
    /// Generate client modules (default `true`).
    pub fn build_client(mut self, enable: bool) -> Self {
        self.build_client = enable;
        self
    }

    /// Generate server modules (default `true`).
    pub fn build_server(mut self, enable: bool) -> Self {
        self.build_server = enable;
        self
    }

    /// The output directory (default: `$OUT_DIR`).
    pub fn out_dir(mut self, out_dir: impl AsRef<Path>) -> Self {
        self.out_dir = Some(out_dir.as_ref().to_path_buf());
        self
    }

    /// The path generated code uses for the runtime crate (default `::rpc_core`).
    ///
    /// Generated messages also reach prost through it
    /// (`<crate_path>::codegen::prost`, `<crate_path>::codegen::prost_types`
    /// for the well-known types), so the crate using the generated code needs
    /// no `prost` or `prost-types` dependency of its own.
    pub fn crate_path(mut self, path: impl Into<String>) -> Self {
        self.crate_path = path.into();
        self
    }

    /// The path generated messages use for the `prost` crate (default
    /// `<crate_path>::codegen::prost`, the prost `rpc-core` uses). Set it to
    /// `::prost` to use your own dependency (it must be the same prost version
    /// as `rpc-core`'s).
    pub fn prost_path(mut self, path: impl Into<String>) -> Self {
        self.prost_path = Some(path.into());
        self
    }

    /// The path of the crate holding the protobuf well-known types
    /// (`google.protobuf.Timestamp`, ...); default
    /// `<crate_path>::codegen::prost_types`. Same as
    /// `extern_path(".google.protobuf", path)`.
    pub fn prost_types_path(mut self, path: impl Into<String>) -> Self {
        self.prost_types_path = Some(path.into());
        self
    }

    /// Where descriptors come from (default [`Protoc::Auto`]).
    pub fn protoc(mut self, protoc: Protoc) -> Self {
        self.protoc = protoc;
        self
    }

    /// Adds an attribute to messages and enums matching `path` (prost-build pass-through).
    pub fn type_attribute(mut self, path: impl AsRef<str>, attribute: impl AsRef<str>) -> Self {
        self.prost.type_attribute(path, attribute);
        self
    }

    /// Adds an attribute to messages matching `path` (prost-build pass-through).
    pub fn message_attribute(mut self, path: impl AsRef<str>, attribute: impl AsRef<str>) -> Self {
        self.prost.message_attribute(path, attribute);
        self
    }

    /// Adds an attribute to enums matching `path` (prost-build pass-through).
    pub fn enum_attribute(mut self, path: impl AsRef<str>, attribute: impl AsRef<str>) -> Self {
        self.prost.enum_attribute(path, attribute);
        self
    }

    /// Adds an attribute to fields matching `path` (prost-build pass-through).
    pub fn field_attribute(mut self, path: impl AsRef<str>, attribute: impl AsRef<str>) -> Self {
        self.prost.field_attribute(path, attribute);
        self
    }

    /// Uses an existing Rust type for a protobuf path (prost-build pass-through).
    ///
    /// `extern_path(".google.protobuf", path)` replaces the default location of
    /// the well-known types ([`prost_types_path`](Self::prost_types_path)).
    pub fn extern_path(mut self, proto_path: impl AsRef<str>, rust_path: impl AsRef<str>) -> Self {
        if proto_path.as_ref() == ".google.protobuf" {
            self.prost_types_path = Some(rust_path.as_ref().to_string());
        } else {
            self.prost
                .extern_path(proto_path.as_ref(), rust_path.as_ref());
        }
        self
    }

    /// `bytes::Bytes` for `bytes` fields matching the paths (prost-build pass-through).
    pub fn bytes<I, S>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.prost.bytes(paths);
        self
    }

    /// `BTreeMap` for `map` fields matching the paths (prost-build pass-through).
    pub fn btree_map<I, S>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.prost.btree_map(paths);
        self
    }

    /// Box the fields matching `path` (prost-build pass-through).
    pub fn boxed(mut self, path: impl AsRef<str>) -> Self {
        self.prost.boxed(path);
        self
    }

    /// Generate the well-known types instead of using `prost-types` (prost-build pass-through).
    pub fn compile_well_known_types(mut self, enable: bool) -> Self {
        if enable {
            self.prost.compile_well_known_types();
        }
        self.compile_well_known_types = enable;
        self
    }

    /// Skip comments on items matching the paths (prost-build pass-through).
    pub fn disable_comments<I, S>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.prost.disable_comments(paths);
        self
    }

    /// Writes a file that `include!`s every generated file as nested modules
    /// (prost-build pass-through).
    pub fn include_file(mut self, path: impl AsRef<Path>) -> Self {
        self.prost.include_file(path.as_ref());
        self
    }

    /// An extra argument for `protoc` (ignored when protox is used).
    pub fn protoc_arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Self {
        self.prost.protoc_arg(arg);
        self
    }

    /// Also write the encoded `FileDescriptorSet` here: every compiled file, its transitive
    /// imports (the well-known types too) and their source info (comments), with protox as
    /// with `protoc`.
    ///
    /// This is what a reflection service serves. Write it into `OUT_DIR` as `<name>.bin`
    /// and embed it with `rpc_reflection::include_file_descriptor_set!("<name>")`, as
    /// `tonic-build` users do with `tonic::include_file_descriptor_set!`:
    ///
    /// ```rust,no_run
    /// // build.rs
    /// fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    ///     rpc_codegen::configure()
    ///         .file_descriptor_set_path(out_dir.join("route_guide.bin"))
    ///         .compile_protos(&["proto/route_guide.proto"], &["proto"])?;
    ///     Ok(())
    /// }
    /// ```
    ///
    /// ```rust,ignore
    /// // src/main.rs
    /// const FILE_DESCRIPTOR_SET: &[u8] = rpc_reflection::include_file_descriptor_set!("route_guide");
    /// let reflection = rpc_reflection::Builder::configure()
    ///     .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
    ///     .build_v1()?;
    /// ```
    pub fn file_descriptor_set_path(mut self, path: impl AsRef<Path>) -> Self {
        self.file_descriptor_set_path = Some(path.as_ref().to_path_buf());
        self
    }

    /// Print `cargo:rerun-if-changed` for every input (default `true`).
    pub fn emit_rerun_if_changed(mut self, enable: bool) -> Self {
        self.emit_rerun_if_changed = enable;
        self
    }

    /// Adds an outer attribute to the client modules of services whose fully
    /// qualified name matches `path` (`.` matches all, `pkg` a package,
    /// `pkg.Service` one service).
    pub fn client_mod_attribute(
        mut self,
        path: impl AsRef<str>,
        attribute: impl AsRef<str>,
    ) -> Self {
        self.client_mod_attributes
            .push((path.as_ref().to_string(), attribute.as_ref().to_string()));
        self
    }

    /// Compresses the requests of matching methods with `compression` in generated clients,
    /// whatever the channel's `send_compressed` says (PROTOCOL.md §15); `Compression::Off`
    /// sends them plain (for payloads already compressed). `path` is `pkg.Service/Method`
    /// for one method, or `pkg.Service`, `pkg` or `.` for all below it; the last match wins.
    ///
    /// ```no_run
    /// rpc_codegen::configure()
    ///     .send_compressed(".", rpc_codegen::Compression::Zstd)
    ///     .send_compressed("media.Store/Upload", rpc_codegen::Compression::Off)
    ///     .compile_protos(&["proto/media.proto"], &["proto"])
    ///     .unwrap();
    /// ```
    pub fn send_compressed(
        mut self,
        path: impl AsRef<str>,
        compression: crate::Compression,
    ) -> Self {
        self.send_compression
            .push((path.as_ref().to_string(), compression));
        self
    }

    /// Adds an outer attribute to the server modules of matching services
    /// (same matching as [`client_mod_attribute`](Self::client_mod_attribute)).
    pub fn server_mod_attribute(
        mut self,
        path: impl AsRef<str>,
        attribute: impl AsRef<str>,
    ) -> Self {
        self.server_mod_attributes
            .push((path.as_ref().to_string(), attribute.as_ref().to_string()));
        self
    }

    /// Compiles `protos` (searching imports in `includes`) into one `<package>.rs`
    /// per protobuf package (`_.rs` for files without a package) in the output
    /// directory.
    ///
    /// `includes` work like `protoc`'s `-I` folders: imports are looked up in
    /// each, in order, and the first that has the file wins (the well-known
    /// `google/protobuf/*.proto` files are built in). No include folders means
    /// the current directory, as for `protoc`. A file in `protos` that is not
    /// found as given is looked up in the include folders too, so
    /// `compile_protos(&["inventory/v1/inventory.proto"], &["proto"])` works
    /// as `protoc -I proto inventory/v1/inventory.proto` does. An import that
    /// is found nowhere is an error listing the folders searched.
    pub fn compile_protos(
        mut self,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> Result<(), Error> {
        if self.emit_rerun_if_changed {
            // Which compiler runs depends on these: a change must rebuild, not replay a
            // cached success or failure.
            println!("cargo:rerun-if-env-changed=PROTOC");
        }
        let includes = include_folders(includes);
        let protos = resolve_inputs(protos, &includes)?;

        let mut gen = GenConfig {
            build_client: self.build_client,
            build_server: self.build_server,
            send_compression: self.send_compression.clone(),
            ..GenConfig::default()
        };
        let crate_path = self.crate_path.trim().to_string();
        gen.crate_path = syn::parse_str(&crate_path)
            .map_err(|e| invalid_input(format!("invalid crate path `{crate_path}`: {e}")))?;
        let client_attrs = parse_attrs(&self.client_mod_attributes)?;
        let server_attrs = parse_attrs(&self.server_mod_attributes)?;

        // Generated messages reach prost (and the well-known types) through the
        // runtime crate's hidden `codegen` module: the user's crate needs only
        // `rpc-core`.
        let prost_path = self
            .prost_path
            .clone()
            .unwrap_or_else(|| format!("{crate_path}::codegen::prost"));
        self.prost.prost_path(prost_path);
        let prost_types_path = self
            .prost_types_path
            .clone()
            .unwrap_or_else(|| format!("{crate_path}::codegen::prost_types"));
        if self.compile_well_known_types {
            // prost-build then generates `google.protobuf` itself, unless the
            // user pointed it elsewhere.
            if let Some(path) = &self.prost_types_path {
                self.prost.extern_path(".google.protobuf", path);
            }
        } else {
            self.prost.prost_types_path(prost_types_path);
        }

        if let Some(out_dir) = &self.out_dir {
            self.prost.out_dir(out_dir);
        } else if std::env::var_os("OUT_DIR").is_none() {
            return Err(invalid_input(
                "OUT_DIR is not set: call this from a build script or set `out_dir`".into(),
            ));
        }

        let generator = |options| -> Box<dyn prost_build::ServiceGenerator> {
            Box::new(RpcServiceGenerator::new(
                gen.clone(),
                client_attrs.clone(),
                server_attrs.clone(),
                options,
            ))
        };

        match self.resolve_protoc() {
            Source::Protoc(exe, include) => self
                .run_protoc(&exe, include, &protos, &includes, &generator)
                .map_err(|e| protoc_error(e, &includes)),
            Source::Protox { fallback } => match self.run_protox(&protos, &includes, &generator) {
                Ok(()) => Ok(()),
                Err(ProtoxFailure::Compile(err)) => match fallback {
                    // Some trees that protoc accepts, protox does not (editions): say
                    // how to try protoc.
                    None if matches!(self.protoc, Protoc::Auto) => Err(err
                        .with_note(
                            "this was protox, the built-in compiler; if protoc accepts the \
                             tree, set PROTOC to a protoc binary or enable rpc-codegen's \
                             `vendored-protoc` feature (rpc-codegen then retries with protoc)"
                                .to_owned(),
                        )
                        .into()),
                    None => Err(err.into()),
                    Some((exe, include)) => {
                        println!(
                                "cargo:warning=rpc-codegen: protox rejected the input ({}); retrying with protoc",
                                err.summary()
                            );
                        self.run_protoc(&exe, include, &protos, &includes, &generator)
                            .map_err(|protoc_err| {
                                Error::proto(err.with_note(format!(
                                    "the protoc fallback failed too: {protoc_err}"
                                )))
                            })
                    }
                },
                Err(ProtoxFailure::NotFound(err)) => Err(err.into()),
                Err(ProtoxFailure::Io(e)) => Err(e.into()),
            },
            Source::Error(e) => Err(e.into()),
        }
    }

    fn resolve_protoc(&self) -> Source {
        match self.protoc {
            Protoc::Auto => {
                if std::env::var_os("PROTOC").is_some() {
                    return Source::Protoc(prost_build::protoc_from_env(), None);
                }
                Source::Protox {
                    fallback: vendored_protoc().ok(),
                }
            }
            Protoc::Protox => Source::Protox { fallback: None },
            Protoc::System => Source::Protoc(prost_build::protoc_from_env(), None),
            Protoc::Vendored => match vendored_protoc() {
                Ok((exe, include)) => Source::Protoc(exe, include),
                Err(e) => Source::Error(e),
            },
        }
    }

    fn run_protoc(
        &mut self,
        exe: &Path,
        extra_include: Option<PathBuf>,
        protos: &[PathBuf],
        includes: &[PathBuf],
        generator: &dyn Fn(MethodOptions) -> Box<dyn prost_build::ServiceGenerator>,
    ) -> io::Result<()> {
        let mut includes = includes.to_vec();
        includes.extend(extra_include);
        if self.emit_rerun_if_changed {
            for path in protos.iter().chain(&includes) {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
        // protoc reads only from disk: qrpc's options go in a folder of the output's, after
        // the user's folders.
        let out_dir = self.output_dir()?;
        includes.push(options::write_include(&out_dir)?);
        self.prost.protoc_executable(exe);
        // The encoded set keeps the options' extension values, which prost's types drop.
        let set_path = self
            .file_descriptor_set_path
            .clone()
            .unwrap_or_else(|| out_dir.join("rpc-codegen-descriptors.bin"));
        self.prost.file_descriptor_set_path(&set_path);
        let fds = self.prost.load_fds(protos, &includes)?;
        let options = MethodOptions::from_encoded(&std::fs::read(&set_path)?)?;
        self.prost.service_generator(generator(options));
        self.prost.compile_fds(fds)
    }

    /// Where the generated files go: `out_dir`, else `OUT_DIR`.
    fn output_dir(&self) -> io::Result<PathBuf> {
        match (&self.out_dir, std::env::var_os("OUT_DIR")) {
            (Some(dir), _) => Ok(dir.clone()),
            (None, Some(dir)) => Ok(PathBuf::from(dir)),
            (None, None) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "OUT_DIR is not set: call this from a build script or set `out_dir`",
            )),
        }
    }

    fn run_protox(
        &mut self,
        protos: &[PathBuf],
        includes: &[PathBuf],
        generator: &dyn Fn(MethodOptions) -> Box<dyn prost_build::ServiceGenerator>,
    ) -> Result<(), ProtoxFailure> {
        let render = |err: protox::Error| {
            let rendered = ProtoError::from_protox(&err, includes);
            if err.is_file_not_found() {
                // protoc would look in the same folders: no point in a fallback.
                ProtoxFailure::NotFound(rendered)
            } else {
                ProtoxFailure::Compile(rendered)
            }
        };
        let compiled = descriptors::compile(protos, includes).map_err(render)?;
        if self.emit_rerun_if_changed {
            for path in compiled.paths() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
        if let Some(path) = &self.file_descriptor_set_path {
            std::fs::write(path, compiled.encode_file_descriptor_set())
                .map_err(|e| ProtoxFailure::Io(with_path(e, path)))?;
        }
        let fds = compiled.file_descriptor_set();
        self.prost
            .service_generator(generator(compiled.method_options()));
        self.prost.compile_fds(fds).map_err(ProtoxFailure::Io)
    }
}

enum Source {
    Protoc(PathBuf, Option<PathBuf>),
    Protox {
        fallback: Option<(PathBuf, Option<PathBuf>)>,
    },
    Error(io::Error),
}

enum ProtoxFailure {
    Compile(ProtoError),
    NotFound(ProtoError),
    Io(io::Error),
}

#[cfg(feature = "vendored-protoc")]
fn vendored_protoc() -> io::Result<(PathBuf, Option<PathBuf>)> {
    let exe = protoc_bin_vendored::protoc_bin_path()
        .map_err(|e| io::Error::new(io::ErrorKind::NotFound, format!("vendored protoc: {e}")))?;
    let include = protoc_bin_vendored::include_path().ok();
    Ok((exe, include))
}

#[cfg(not(feature = "vendored-protoc"))]
fn vendored_protoc() -> io::Result<(PathBuf, Option<PathBuf>)> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "Protoc::Vendored needs the `vendored-protoc` feature of rpc-codegen",
    ))
}

/// The include folders as given; none means the current directory (`protoc`'s default).
fn include_folders(includes: &[impl AsRef<Path>]) -> Vec<PathBuf> {
    let mut includes: Vec<PathBuf> = includes.iter().map(|p| p.as_ref().to_path_buf()).collect();
    if includes.is_empty() {
        includes.push(PathBuf::from("."));
    }
    includes
}

fn resolve_inputs(
    protos: &[impl AsRef<Path>],
    includes: &[PathBuf],
) -> Result<Vec<PathBuf>, Error> {
    protos
        .iter()
        .map(|p| resolve_input(p.as_ref(), includes))
        .collect()
}

/// A file argument as given if it exists, else the first `include/file` that
/// does (protoc's rule for a path that is not a file on disk).
fn resolve_input(proto: &Path, includes: &[PathBuf]) -> Result<PathBuf, Error> {
    if proto.is_file() {
        return Ok(proto.to_path_buf());
    }
    if proto.is_relative() {
        if let Some(found) = includes
            .iter()
            .map(|inc| inc.join(proto))
            .find(|p| p.is_file())
        {
            return Ok(found);
        }
    }
    let mut msg = format!("{}: file not found", proto.display());
    if proto.is_relative() {
        msg.push_str(&format!(
            " (looked for it as given, then in the include folders {})",
            folder_list(includes)
        ));
    }
    Err(Error::new(io::ErrorKind::NotFound, msg))
}

/// `"a", "b", "c"`.
pub(crate) fn folder_list(includes: &[PathBuf]) -> String {
    includes
        .iter()
        .map(|p| format!("\"{}\"", p.display()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The note added to a file-not-found error.
pub(crate) fn searched_note(includes: &[PathBuf]) -> String {
    format!(
        "include folders searched, in order: {} (then the built-in google/protobuf/*.proto)\n\
         help: an import path is relative to an include folder; pass the folder it is \
         relative to: `rpc_codegen::configure().compile_protos(&[file], &[folder, ..])`",
        folder_list(includes)
    )
}

/// A failed `protoc` run: its output, plus the folders searched when a file
/// was not found.
fn protoc_error(err: io::Error, includes: &[PathBuf]) -> Error {
    let not_found = err.to_string().contains("not found");
    let err = Error::from(err);
    if not_found {
        err.with_note(&searched_note(includes))
    } else {
        err
    }
}

fn parse_attrs(
    attrs: &[(String, String)],
) -> Result<Vec<(String, proc_macro2::TokenStream)>, Error> {
    attrs
        .iter()
        .map(|(path, attr)| {
            let tokens: proc_macro2::TokenStream = attr
                .parse()
                .map_err(|e| invalid_input(format!("invalid attribute `{attr}`: {e}")))?;
            Ok((path.clone(), tokens))
        })
        .collect()
}

fn invalid_input(msg: String) -> Error {
    Error::new(io::ErrorKind::InvalidInput, msg)
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}
