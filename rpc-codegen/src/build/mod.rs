//! The `.proto` front end (feature `build`): descriptors -> prost-build ->
//! our [`ServiceGenerator`](prost_build::ServiceGenerator).

mod error;
mod service_gen;

use std::io;
use std::path::{Path, PathBuf};

pub use self::error::ProtoError;
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
/// configuration, using the file's folder as the include path.
///
/// ```rust,no_run
/// // build.rs
/// fn main() -> std::io::Result<()> {
///     rpc_codegen::compile_protos("proto/helloworld.proto")
/// }
/// ```
pub fn compile_protos(proto: impl AsRef<Path>) -> io::Result<()> {
    let proto = proto.as_ref();
    let include = match proto.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    configure().compile_protos(&[proto], &[include])
}

/// Starts a [`Builder`] with the default configuration.
pub fn configure() -> Builder {
    Builder {
        build_client: true,
        build_server: true,
        crate_path: "::rpc_core".to_string(),
        out_dir: None,
        prost: prost_build::Config::new(),
        file_descriptor_set_path: None,
        emit_rerun_if_changed: true,
        client_mod_attributes: Vec::new(),
        server_mod_attributes: Vec::new(),
        protoc: Protoc::Auto,
    }
}

/// Configures and runs code generation; shaped like `tonic_build::Builder`.
#[derive(Debug)]
#[must_use]
pub struct Builder {
    build_client: bool,
    build_server: bool,
    crate_path: String,
    out_dir: Option<PathBuf>,
    prost: prost_build::Config,
    file_descriptor_set_path: Option<PathBuf>,
    emit_rerun_if_changed: bool,
    client_mod_attributes: Vec<(String, String)>,
    server_mod_attributes: Vec<(String, String)>,
    protoc: Protoc,
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
    pub fn crate_path(mut self, path: impl Into<String>) -> Self {
        self.crate_path = path.into();
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
    pub fn extern_path(mut self, proto_path: impl AsRef<str>, rust_path: impl AsRef<str>) -> Self {
        self.prost
            .extern_path(proto_path.as_ref(), rust_path.as_ref());
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

    /// Also write the encoded `FileDescriptorSet` (with imports and source info) here.
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
    pub fn compile_protos(
        mut self,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> io::Result<()> {
        let protos: Vec<PathBuf> = protos.iter().map(|p| p.as_ref().to_path_buf()).collect();
        let includes: Vec<PathBuf> = includes.iter().map(|p| p.as_ref().to_path_buf()).collect();

        let mut gen = GenConfig {
            build_client: self.build_client,
            build_server: self.build_server,
            ..GenConfig::default()
        };
        gen.crate_path = syn::parse_str(&self.crate_path)
            .map_err(|e| invalid_input(format!("invalid crate path `{}`: {e}", self.crate_path)))?;
        let client_attrs = parse_attrs(&self.client_mod_attributes)?;
        let server_attrs = parse_attrs(&self.server_mod_attributes)?;

        if let Some(out_dir) = &self.out_dir {
            self.prost.out_dir(out_dir);
        } else if std::env::var_os("OUT_DIR").is_none() {
            return Err(invalid_input(
                "OUT_DIR is not set: call this from a build script or set `out_dir`".into(),
            ));
        }

        for proto in &protos {
            if !proto.exists() {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{}: file not found", proto.display()),
                ));
            }
        }

        let generator = || -> Box<dyn prost_build::ServiceGenerator> {
            Box::new(RpcServiceGenerator::new(
                gen.clone(),
                client_attrs.clone(),
                server_attrs.clone(),
            ))
        };

        match self.resolve_protoc() {
            Source::Protoc(exe, include) => {
                self.prost.service_generator(generator());
                self.run_protoc(&exe, include, &protos, &includes)
            }
            Source::Protox { fallback } => match self.run_protox(&protos, &includes, generator()) {
                Ok(()) => Ok(()),
                Err(ProtoxFailure::Compile(err)) => match fallback {
                    None => Err(err.into()),
                    Some((exe, include)) => {
                        println!(
                                "cargo:warning=rpc-codegen: protox rejected the input ({}); retrying with protoc",
                                err.summary()
                            );
                        self.prost.service_generator(generator());
                        self.run_protoc(&exe, include, &protos, &includes)
                            .map_err(|protoc_err| {
                                io::Error::other(err.with_note(format!(
                                    "the protoc fallback failed too: {protoc_err}"
                                )))
                            })
                    }
                },
                Err(ProtoxFailure::Io(e)) => Err(e),
            },
            Source::Error(e) => Err(e),
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
    ) -> io::Result<()> {
        let mut includes = includes.to_vec();
        includes.extend(extra_include);
        self.prost.protoc_executable(exe);
        if let Some(path) = &self.file_descriptor_set_path {
            self.prost.file_descriptor_set_path(path);
        }
        if self.emit_rerun_if_changed {
            for path in protos.iter().chain(&includes) {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
        self.prost.compile_protos(protos, &includes)
    }

    fn run_protox(
        &mut self,
        protos: &[PathBuf],
        includes: &[PathBuf],
        generator: Box<dyn prost_build::ServiceGenerator>,
    ) -> Result<(), ProtoxFailure> {
        let render =
            |err: protox::Error| ProtoxFailure::Compile(ProtoError::from_protox(&err, includes));
        let mut compiler = protox::Compiler::new(includes).map_err(render)?;
        compiler.include_imports(true).include_source_info(true);
        compiler.open_files(protos).map_err(render)?;

        if self.emit_rerun_if_changed {
            for path in protos {
                println!("cargo:rerun-if-changed={}", path.display());
            }
            for file in compiler.files() {
                if let Some(path) = file.path() {
                    println!("cargo:rerun-if-changed={}", path.display());
                }
            }
        }
        if let Some(path) = &self.file_descriptor_set_path {
            std::fs::write(path, compiler.encode_file_descriptor_set())
                .map_err(|e| ProtoxFailure::Io(with_path(e, path)))?;
        }
        let fds = compiler.file_descriptor_set();
        self.prost.service_generator(generator);
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

fn parse_attrs(attrs: &[(String, String)]) -> io::Result<Vec<(String, proc_macro2::TokenStream)>> {
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

fn invalid_input(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}
