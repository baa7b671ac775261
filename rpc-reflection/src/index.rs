//! [`Index`]: the registered files, by name, by the symbols they declare and by the
//! extensions they define.

use crate::Error;
use bytes::Bytes;
use prost::Message;
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

/// A `FileDescriptorSet` whose files stay as they were encoded, so that a response carries
/// them byte for byte (custom options and unknown fields included).
#[derive(Clone, PartialEq, Message)]
struct RawFileDescriptorSet {
    #[prost(bytes = "bytes", repeated, tag = "1")]
    file: Vec<Bytes>,
}

#[derive(Debug)]
struct File {
    /// The file as registered, without its source info, to tell a file registered twice
    /// from two different files with one name.
    proto: FileDescriptorProto,
    /// The file as encoded.
    raw: Bytes,
    /// The indexes of its direct dependencies, once every set is registered.
    deps: Vec<usize>,
}

/// The registered files and what they declare.
#[derive(Debug, Default)]
pub(crate) struct Index {
    files: Vec<File>,
    by_name: HashMap<String, usize>,
    /// Every fully-qualified name (no leading dot) declared: packages' messages, enums, enum
    /// values, fields, oneofs, extensions, services and methods.
    symbols: HashMap<String, usize>,
    /// Message types, for `all_extension_numbers_of_type`.
    messages: HashSet<String>,
    /// (extended type, field number) -> the file that declares the extension.
    extensions: HashMap<(String, i32), usize>,
    services: BTreeSet<String>,
}

impl Index {
    /// Registers the files of an encoded `FileDescriptorSet`.
    pub(crate) fn add_encoded_set(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let set = RawFileDescriptorSet::decode(bytes).map_err(Error::Decode)?;
        for raw in set.file {
            let proto = FileDescriptorProto::decode(raw.clone()).map_err(Error::Decode)?;
            self.add_file(proto, raw)?;
        }
        Ok(())
    }

    /// Registers the files of a decoded `FileDescriptorSet`.
    pub(crate) fn add_set(&mut self, set: prost_types::FileDescriptorSet) -> Result<(), Error> {
        for proto in set.file {
            let raw = Bytes::from(proto.encode_to_vec());
            self.add_file(proto, raw)?;
        }
        Ok(())
    }

    fn add_file(&mut self, mut proto: FileDescriptorProto, raw: Bytes) -> Result<(), Error> {
        proto.source_code_info = None;
        let name = proto.name().to_owned();
        if let Some(&existing) = self.by_name.get(&name) {
            // The same file from two sets (a shared import): keep the first.
            return if self.files[existing].proto == proto {
                Ok(())
            } else {
                Err(Error::ConflictingFile(name))
            };
        }
        let at = self.files.len();
        let mut symbols = Symbols {
            file: at,
            file_name: &name,
            index: self,
        };
        // A package is not a symbol: many files share one.
        let package = proto.package();
        for message in &proto.message_type {
            symbols.message(package, message)?;
        }
        for enumeration in &proto.enum_type {
            symbols.enumeration(package, enumeration)?;
        }
        for extension in &proto.extension {
            symbols.extension(package, extension)?;
        }
        for service in &proto.service {
            let service_name = join(package, service.name());
            symbols.symbol(&service_name)?;
            for method in &service.method {
                symbols.symbol(&join(&service_name, method.name()))?;
            }
            symbols.index.services.insert(service_name);
        }
        self.by_name.insert(name, at);
        self.files.push(File {
            proto,
            raw,
            deps: Vec::new(),
        });
        Ok(())
    }

    /// Resolves every file's dependencies: each must be registered.
    pub(crate) fn link(&mut self) -> Result<(), Error> {
        for at in 0..self.files.len() {
            let mut deps = Vec::with_capacity(self.files[at].proto.dependency.len());
            for dependency in &self.files[at].proto.dependency {
                match self.by_name.get(dependency) {
                    Some(&dep) => deps.push(dep),
                    None => {
                        return Err(Error::MissingDependency {
                            file: self.files[at].proto.name().to_owned(),
                            dependency: dependency.clone(),
                        })
                    }
                }
            }
            self.files[at].deps = deps;
        }
        Ok(())
    }

    /// The full names of the services declared, sorted.
    pub(crate) fn services(&self) -> &BTreeSet<String> {
        &self.services
    }

    pub(crate) fn file_by_name(&self, name: &str) -> Option<Vec<Bytes>> {
        self.by_name.get(name).map(|&at| self.with_dependencies(at))
    }

    pub(crate) fn file_containing_symbol(&self, symbol: &str) -> Option<Vec<Bytes>> {
        self.symbols
            .get(symbol)
            .map(|&at| self.with_dependencies(at))
    }

    pub(crate) fn file_containing_extension(
        &self,
        extended: &str,
        number: i32,
    ) -> Option<Vec<Bytes>> {
        self.extensions
            .get(&(extended.to_owned(), number))
            .map(|&at| self.with_dependencies(at))
    }

    /// The field numbers of the extensions of a message type, sorted; `None` if there is no
    /// such message type.
    pub(crate) fn extension_numbers(&self, extended: &str) -> Option<Vec<i32>> {
        if !self.messages.contains(extended) {
            return None;
        }
        let mut numbers: Vec<i32> = self
            .extensions
            .keys()
            .filter(|(ty, _)| ty == extended)
            .map(|&(_, number)| number)
            .collect();
        numbers.sort_unstable();
        Some(numbers)
    }

    /// The file first, then its transitive dependencies, breadth first, each once.
    fn with_dependencies(&self, at: usize) -> Vec<Bytes> {
        let mut seen = HashSet::from([at]);
        let mut queue = VecDeque::from([at]);
        let mut out = Vec::new();
        while let Some(next) = queue.pop_front() {
            let file = &self.files[next];
            out.push(file.raw.clone());
            for &dep in &file.deps {
                if seen.insert(dep) {
                    queue.push_back(dep);
                }
            }
        }
        out
    }
}

fn join(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_owned()
    } else {
        format!("{scope}.{name}")
    }
}

/// Indexes the symbols of one file.
struct Symbols<'a> {
    file: usize,
    file_name: &'a str,
    index: &'a mut Index,
}

impl Symbols<'_> {
    fn symbol(&mut self, name: &str) -> Result<(), Error> {
        if let Some(&other) = self.index.symbols.get(name) {
            let first = match self.index.files.get(other) {
                Some(file) => file.proto.name().to_owned(),
                None => self.file_name.to_owned(),
            };
            return Err(Error::DuplicateSymbol {
                symbol: name.to_owned(),
                first,
                second: self.file_name.to_owned(),
            });
        }
        self.index.symbols.insert(name.to_owned(), self.file);
        Ok(())
    }

    fn message(&mut self, scope: &str, message: &DescriptorProto) -> Result<(), Error> {
        let name = join(scope, message.name());
        self.symbol(&name)?;
        self.index.messages.insert(name.clone());
        for field in &message.field {
            self.symbol(&join(&name, field.name()))?;
        }
        for oneof in &message.oneof_decl {
            self.symbol(&join(&name, oneof.name()))?;
        }
        for nested in &message.nested_type {
            self.message(&name, nested)?;
        }
        for enumeration in &message.enum_type {
            self.enumeration(&name, enumeration)?;
        }
        for extension in &message.extension {
            self.extension(&name, extension)?;
        }
        Ok(())
    }

    /// An enum and its values; as in C++, the values are siblings of the enum.
    fn enumeration(&mut self, scope: &str, enumeration: &EnumDescriptorProto) -> Result<(), Error> {
        self.symbol(&join(scope, enumeration.name()))?;
        for value in &enumeration.value {
            self.symbol(&join(scope, value.name()))?;
        }
        Ok(())
    }

    fn extension(&mut self, scope: &str, extension: &FieldDescriptorProto) -> Result<(), Error> {
        self.symbol(&join(scope, extension.name()))?;
        // Compiled descriptors name types fully qualified, with a leading dot.
        let extended = extension.extendee().trim_start_matches('.').to_owned();
        let key = (extended, extension.number());
        if self.index.extensions.contains_key(&key) {
            return Err(Error::DuplicateExtension {
                extended: key.0,
                number: key.1,
            });
        }
        self.index.extensions.insert(key, self.file);
        Ok(())
    }
}
