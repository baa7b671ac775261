//! qrpc's method options (`proto/qrpc/options.proto`): served to the compilers without a
//! copy in the user's tree, and read back from the compiled descriptors into the model.

use prost_reflect::{DescriptorPool, ExtensionDescriptor, Value};
use protox::file::{File, FileResolver};
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

/// The file's import name.
pub(crate) const NAME: &str = "qrpc/options.proto";
/// The file, as shipped.
pub(crate) const SOURCE: &str = include_str!("../../proto/qrpc/options.proto");

/// Serves `qrpc/options.proto` to protox, after the user's include folders.
pub(crate) struct Embedded;

impl FileResolver for Embedded {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        if name == NAME {
            File::from_source(NAME, SOURCE)
        } else {
            Err(protox::Error::file_not_found(name))
        }
    }
}

/// Writes the file under `dir` (as `dir/qrpc/options.proto`) for `protoc`, which reads only
/// from disk; returns `dir`, the include folder to add after the user's.
pub(crate) fn write_include(dir: &Path) -> io::Result<PathBuf> {
    let include = dir.join("rpc-codegen-include");
    let path = include.join(NAME);
    if std::fs::read_to_string(&path).ok().as_deref() != Some(SOURCE) {
        std::fs::create_dir_all(path.parent().unwrap_or(&include))?;
        std::fs::write(&path, SOURCE)?;
    }
    Ok(include)
}

/// A method's qrpc options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Options {
    pub(crate) priority: i32,
    pub(crate) datagrams: bool,
}

/// The qrpc options of every method of a compiled tree that sets any, by full method name
/// (`pkg.Service.Method`).
#[derive(Debug, Clone, Default)]
pub(crate) struct MethodOptions(HashMap<String, Options>);

impl MethodOptions {
    /// Reads the options from a pool (extension values are kept in the descriptors' options).
    pub(crate) fn from_pool(pool: &DescriptorPool) -> Self {
        let priority = pool.get_extension_by_name("qrpc.priority");
        let datagrams = pool.get_extension_by_name("qrpc.datagrams");
        if priority.is_none() && datagrams.is_none() {
            return MethodOptions::default();
        }
        let mut map = HashMap::new();
        for method in pool
            .services()
            .flat_map(|s| s.methods().collect::<Vec<_>>())
        {
            let options = method.options();
            let get = |ext: &Option<ExtensionDescriptor>| {
                ext.as_ref()
                    .filter(|ext| options.has_extension(ext))
                    .map(|ext| options.get_extension(ext).into_owned())
            };
            let found = Options {
                priority: get(&priority).and_then(|v| v.as_i32()).unwrap_or(0),
                datagrams: get(&datagrams)
                    .as_ref()
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            };
            if found != Options::default() {
                map.insert(method.full_name().to_owned(), found);
            }
        }
        MethodOptions(map)
    }

    /// Reads the options from an encoded `FileDescriptorSet` (`protoc`'s output).
    pub(crate) fn from_encoded(bytes: &[u8]) -> io::Result<Self> {
        let pool = DescriptorPool::decode(bytes)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(Self::from_pool(&pool))
    }

    /// The options of `method` of the service `service` (`pkg.Service`).
    pub(crate) fn get(&self, service: &str, method: &str) -> Options {
        self.0
            .get(&format!("{service}.{method}"))
            .copied()
            .unwrap_or_default()
    }
}
