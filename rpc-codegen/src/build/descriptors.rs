//! protox, with `protoc`'s name scoping where protox's differs.
//!
//! protox (through prost-reflect) resolves a relative type name against every
//! file it has loaded. `protoc` only looks at the file itself and its direct
//! (and public) imports, and a package counts only if one of those is in it.
//! In a large tree a package from a file that is not imported can therefore
//! shadow the intended name: Envoy's `cluster.proto`, in package
//! `envoy.extensions.clusters.dynamic_forward_proxy.v3`, names
//! `common.dynamic_forward_proxy.v3.DnsCacheConfig`, meaning
//! `envoy.extensions.common...`; protox takes the first part for the package
//! `envoy.extensions.clusters.common`, declared by a file that `cluster.proto`
//! only imports indirectly, and gives up.
//!
//! Such a mismatch is always an error, never a different type: prost-reflect
//! only accepts a type from a file the referring file imports, and a package
//! that leads to one is one `protoc` sees too. So protox runs as is, and only
//! if it rejects a name is the tree compiled again with every relative type
//! name resolved beforehand by `protoc`'s rules (written fully qualified,
//! which leaves prost-reflect nothing to look up).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto};
use protox::file::{
    ChainFileResolver, File, FileResolver, GoogleFileResolver, IncludeFileResolver,
};
use protox::Compiler;

/// A compiled tree: the input files and everything they import.
pub(crate) struct Compiled {
    compiler: Compiler,
    files: Rc<Files>,
}

impl Compiled {
    /// The encoded `FileDescriptorSet`, dependencies first, with source info
    /// (comments) and extension options.
    pub(crate) fn encode_file_descriptor_set(&self) -> Vec<u8> {
        self.compiler.encode_file_descriptor_set()
    }

    /// The same set as `prost-types` (what prost-build takes).
    pub(crate) fn file_descriptor_set(&self) -> prost_types::FileDescriptorSet {
        self.compiler.file_descriptor_set()
    }

    /// The qrpc options (`qrpc/options.proto`) of the tree's methods.
    pub(crate) fn method_options(&self) -> super::options::MethodOptions {
        super::options::MethodOptions::from_pool(&self.compiler.descriptor_pool())
    }

    /// Every `.proto` file read from disk (inputs and imports), sorted.
    pub(crate) fn paths(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = self
            .files
            .parsed
            .borrow()
            .values()
            .filter_map(|file| file.path().map(Path::to_path_buf))
            .collect();
        paths.sort();
        paths
    }
}

/// Compiles `protos` (paths; imports searched in `includes`, then among the
/// built-in well-known types) with their imports.
pub(crate) fn compile(protos: &[PathBuf], includes: &[PathBuf]) -> Result<Compiled, protox::Error> {
    let mut disk = ChainFileResolver::new();
    for include in includes {
        disk.add(IncludeFileResolver::new(include.clone()));
    }
    // qrpc's options, unless the user's folders have a file of that name.
    disk.add(super::options::Embedded);
    disk.add(GoogleFileResolver::new());
    let files = Rc::new(Files {
        disk,
        parsed: RefCell::default(),
        symbols: RefCell::default(),
    });

    let first = run(Parsed(Rc::clone(&files)), protos);
    let err = match first {
        Ok(compiler) => return Ok(Compiled { compiler, files }),
        Err(err) if err.is_parse() || err.is_io() || err.is_file_not_found() => return Err(err),
        Err(err) => err,
    };
    match run(Scoped(Rc::clone(&files)), protos) {
        Ok(compiler) => Ok(Compiled { compiler, files }),
        // The first error has the source at hand (labels, notes): keep it
        // unless the second run found something else.
        Err(again) if again.file() == err.file() && again.to_string() == err.to_string() => {
            Err(err)
        }
        Err(again) => Err(again),
    }
}

fn run(
    resolver: impl FileResolver + 'static,
    protos: &[PathBuf],
) -> Result<Compiler, protox::Error> {
    let mut compiler = Compiler::with_file_resolver(resolver);
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(protos)?;
    Ok(compiler)
}

/// The files of one compilation, each read and parsed once.
struct Files {
    disk: ChainFileResolver,
    parsed: RefCell<HashMap<String, File>>,
    symbols: RefCell<HashMap<String, Rc<Symbols>>>,
}

impl Files {
    fn parsed(&self, name: &str) -> Result<File, protox::Error> {
        if let Some(file) = self.parsed.borrow().get(name) {
            return Ok(file.clone());
        }
        let file = self.disk.open_file(name)?;
        self.parsed
            .borrow_mut()
            .insert(name.to_owned(), file.clone());
        Ok(file)
    }

    fn symbols(&self, name: &str) -> Result<Rc<Symbols>, protox::Error> {
        if let Some(symbols) = self.symbols.borrow().get(name) {
            return Ok(Rc::clone(symbols));
        }
        let symbols = Rc::new(Symbols::of(self.parsed(name)?.file_descriptor_proto()));
        self.symbols
            .borrow_mut()
            .insert(name.to_owned(), Rc::clone(&symbols));
        Ok(symbols)
    }

    /// What `name`'s type names may resolve to: the file itself, its imports,
    /// and what those import publicly. `None` when one cannot be read.
    fn scope(&self, name: &str) -> Option<Scope> {
        let own = self.symbols(name).ok()?;
        let mut stack = own.imports.clone();
        let mut scope = Scope { files: vec![own] };
        let mut seen = HashSet::from([name.to_owned()]);
        while let Some(dep) = stack.pop() {
            if seen.insert(dep.clone()) {
                let symbols = self.symbols(&dep).ok()?;
                stack.extend(symbols.public_imports.iter().cloned());
                scope.files.push(symbols);
            }
        }
        Some(scope)
    }
}

/// The files as parsed: protox on its own.
struct Parsed(Rc<Files>);

impl FileResolver for Parsed {
    fn resolve_path(&self, path: &Path) -> Option<String> {
        self.0.disk.resolve_path(path)
    }

    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        self.0.parsed(name)
    }
}

/// The files with their type names resolved as `protoc` would.
struct Scoped(Rc<Files>);

impl FileResolver for Scoped {
    fn resolve_path(&self, path: &Path) -> Option<String> {
        self.0.disk.resolve_path(path)
    }

    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        let file = self.0.parsed(name)?;
        // An import that cannot be read is protox's to report, pointing into
        // the source: keep the file as parsed.
        let Some(scope) = self.0.scope(name) else {
            return Ok(file);
        };
        let mut proto = FileDescriptorProto::from(file);
        scope.qualify_file(&mut proto);
        // Without its source text now; errors still carry the line and column.
        Ok(File::from_file_descriptor_proto(proto))
    }
}

/// What a name can denote, as far as lookup cares.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Message,
    Enum,
    Service,
    Package,
    /// A field, extension, oneof, enum value or method: never a scope, never a type.
    Member,
}

impl Kind {
    /// `protoc`'s aggregates: a compound name may continue inside them.
    fn is_aggregate(self) -> bool {
        self != Kind::Member
    }

    fn is_type(self) -> bool {
        matches!(self, Kind::Message | Kind::Enum)
    }
}

/// The names one file declares, and what it imports.
struct Symbols {
    package: String,
    names: HashMap<String, Kind>,
    imports: Vec<String>,
    public_imports: Vec<String>,
}

impl Symbols {
    fn of(file: &FileDescriptorProto) -> Self {
        let public_imports = file
            .public_dependency
            .iter()
            .filter_map(|&i| file.dependency.get(usize::try_from(i).ok()?).cloned())
            .collect();
        let mut symbols = Symbols {
            package: file.package().to_owned(),
            names: HashMap::new(),
            imports: file.dependency.clone(),
            public_imports,
        };
        let package = symbols.package.clone();
        for message in &file.message_type {
            symbols.add_message(&package, message);
        }
        for enum_type in &file.enum_type {
            symbols.add_enum(&package, enum_type);
        }
        for ext in &file.extension {
            symbols.add(&package, ext.name(), Kind::Member);
        }
        for service in &file.service {
            let name = symbols.add(&package, service.name(), Kind::Service);
            for method in &service.method {
                symbols.add(&name, method.name(), Kind::Member);
            }
        }
        symbols
    }

    fn add(&mut self, scope: &str, name: &str, kind: Kind) -> String {
        let full = join(scope, name);
        self.names.insert(full.clone(), kind);
        full
    }

    fn add_message(&mut self, scope: &str, message: &DescriptorProto) {
        let name = self.add(scope, message.name(), Kind::Message);
        for field in message.field.iter().chain(&message.extension) {
            self.add(&name, field.name(), Kind::Member);
        }
        for oneof in &message.oneof_decl {
            self.add(&name, oneof.name(), Kind::Member);
        }
        for nested in &message.nested_type {
            self.add_message(&name, nested);
        }
        for enum_type in &message.enum_type {
            self.add_enum(&name, enum_type);
        }
    }

    fn add_enum(&mut self, scope: &str, enum_type: &prost_types::EnumDescriptorProto) {
        self.add(scope, enum_type.name(), Kind::Enum);
        // Enum values are siblings of their enum (C++ scoping).
        for value in &enum_type.value {
            self.add(scope, value.name(), Kind::Member);
        }
    }

    /// Whether this file is in `package` or one inside it.
    fn in_package(&self, package: &str) -> bool {
        self.package
            .strip_prefix(package)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    }
}

/// The names visible from one file (`protoc`'s `DescriptorBuilder::FindSymbol`).
struct Scope {
    files: Vec<Rc<Symbols>>,
}

/// Which symbols end a lookup by a simple name.
#[derive(Clone, Copy)]
enum Want {
    /// A field's type: non-types are skipped.
    Type,
    /// An extendee or a method's input or output: anything ends the lookup.
    Any,
}

impl Scope {
    fn find(&self, full: &str) -> Option<Kind> {
        if let Some(kind) = self.files.iter().find_map(|f| f.names.get(full)) {
            return Some(*kind);
        }
        // A package counts if the file or one it sees is in it.
        self.files
            .iter()
            .any(|f| f.in_package(full))
            .then_some(Kind::Package)
    }

    /// The fully qualified `.name` that `name`, used inside `scope` (a
    /// message, service or package), denotes for `protoc`; `None` when protoc
    /// finds nothing, which leaves the name to protox (and its error).
    ///
    /// The name is qualified even when protoc would then reject it (not a
    /// type, or a scope without the rest of the name), so that protox rejects
    /// the same name protoc does.
    fn qualify(&self, name: &str, scope: &str, want: Want) -> Option<String> {
        if name.starts_with('.') {
            return None;
        }
        let (first, rest) = name
            .split_once('.')
            .map_or((name, None), |(f, r)| (f, Some(r)));
        let mut scope = scope;
        // protoc's `LookupSymbolNoPlaceholder`: the innermost scope holding
        // the first part decides, then the file's top level takes the name whole.
        let full = loop {
            if scope.is_empty() {
                break self.find(name).map(|_| name.to_owned());
            }
            let candidate = join(scope, first);
            match (self.find(&candidate), rest) {
                (Some(kind), Some(rest)) if kind.is_aggregate() => {
                    break Some(join(&candidate, rest));
                }
                (Some(kind), None) if kind.is_type() || matches!(want, Want::Any) => {
                    break Some(candidate);
                }
                _ => {}
            }
            scope = scope.rsplit_once('.').map_or("", |(parent, _)| parent);
        };
        full.map(|full| format!(".{full}"))
    }

    fn qualify_file(&self, file: &mut FileDescriptorProto) {
        let package = file.package().to_owned();
        for message in &mut file.message_type {
            self.qualify_message(message, &package);
        }
        for ext in &mut file.extension {
            self.qualify_field(ext, &package);
        }
        for service in &mut file.service {
            let scope = join(&package, service.name());
            for method in &mut service.method {
                for name in [&mut method.input_type, &mut method.output_type] {
                    self.qualify_in_place(name, &scope, Want::Any);
                }
            }
        }
    }

    fn qualify_message(&self, message: &mut DescriptorProto, scope: &str) {
        let scope = join(scope, message.name());
        for field in message.field.iter_mut().chain(&mut message.extension) {
            self.qualify_field(field, &scope);
        }
        for nested in &mut message.nested_type {
            self.qualify_message(nested, &scope);
        }
    }

    fn qualify_field(&self, field: &mut FieldDescriptorProto, scope: &str) {
        self.qualify_in_place(&mut field.type_name, scope, Want::Type);
        self.qualify_in_place(&mut field.extendee, scope, Want::Any);
    }

    fn qualify_in_place(&self, name: &mut Option<String>, scope: &str, want: Want) {
        if let Some(full) = name.as_deref().and_then(|n| self.qualify(n, scope, want)) {
            *name = Some(full);
        }
    }
}

fn join(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_owned()
    } else {
        format!("{scope}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scope of the first file, which imports the others directly.
    fn scope(sources: &[(&str, &str)]) -> Scope {
        let parse = |(name, source): &(&str, &str)| {
            Rc::new(Symbols::of(
                File::from_source(name, source)
                    .unwrap()
                    .file_descriptor_proto(),
            ))
        };
        Scope {
            files: sources.iter().map(parse).collect(),
        }
    }

    #[test]
    fn public_imports_are_visible_other_indirect_imports_are_not() {
        let files = Files {
            disk: ChainFileResolver::new(),
            parsed: RefCell::default(),
            symbols: RefCell::default(),
        };
        for (name, source) in [
            (
                "a.proto",
                "syntax = \"proto3\"; package a; import \"b.proto\";",
            ),
            (
                "b.proto",
                "syntax = \"proto3\"; package b; import public \"c.proto\"; import \"d.proto\";",
            ),
            ("c.proto", "syntax = \"proto3\"; package c; message C {}"),
            ("d.proto", "syntax = \"proto3\"; package d; message D {}"),
        ] {
            let file = File::from_source(name, source).unwrap();
            files.parsed.borrow_mut().insert(name.to_owned(), file);
        }
        let scope = files.scope("a.proto").unwrap();
        assert_eq!(
            scope.qualify("c.C", "a", Want::Type).as_deref(),
            Some(".c.C")
        );
        assert_eq!(scope.qualify("d.D", "a", Want::Type), None);
    }

    #[test]
    fn a_field_named_like_a_package_does_not_end_a_compound_lookup() {
        let scope = scope(&[
            (
                "s.proto",
                "syntax = \"proto3\"; package s; message M { other.O other = 1; }",
            ),
            (
                "o.proto",
                "syntax = \"proto3\"; package other; message O {}",
            ),
        ]);
        assert_eq!(
            scope.qualify("other.O", "s.M", Want::Type).as_deref(),
            Some(".other.O")
        );
    }

    #[test]
    fn a_simple_name_skips_non_types_unless_anything_goes() {
        // `s.M.V` is an enum value (a sibling of its enum), `s.V` a message.
        let scope = scope(&[(
            "s.proto",
            "syntax = \"proto3\"; package s; message V {} \
                 message M { enum E { V = 0; } }",
        )]);
        assert_eq!(
            scope.qualify("V", "s.M", Want::Type).as_deref(),
            Some(".s.V")
        );
        assert_eq!(
            scope.qualify("V", "s.M", Want::Any).as_deref(),
            Some(".s.M.V")
        );
    }

    #[test]
    fn a_visible_scope_without_the_rest_of_the_name_still_decides() {
        // protoc: `x.y.common` is visible and holds no `v3.Foo`, so the name
        // is `x.y.common.v3.Foo`, undefined; `x.common.v3.Foo` is never tried.
        let scope = scope(&[
            ("c.proto", "syntax = \"proto3\"; package x.y.clusters.v3;"),
            (
                "f.proto",
                "syntax = \"proto3\"; package x.common.v3; message Foo {}",
            ),
            (
                "o.proto",
                "syntax = \"proto3\"; package x.y.common.v3; message Other {}",
            ),
        ]);
        assert_eq!(
            scope
                .qualify("common.v3.Foo", "x.y.clusters.v3", Want::Type)
                .as_deref(),
            Some(".x.y.common.v3.Foo")
        );
        assert_eq!(scope.qualify(".a.B", "x", Want::Type), None);
        assert_eq!(scope.qualify("Nowhere", "x.y", Want::Type), None);
    }
}
