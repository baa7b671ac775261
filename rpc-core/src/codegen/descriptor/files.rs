//! How the described types are laid out in files.
//!
//! A file per type, named after the type, rather than one file per service: a type's file
//! then depends only on the type, so the sets of two services that share a message hold the
//! same file for it, and a reflection service can register both. Types that refer to each
//! other in a cycle must share a file (imports cannot be cyclic): each strongly connected
//! component of the reference graph is one file.

use super::{Decl, Declared, DescriptorBuilder};
use prost_types::source_code_info::Location;
use prost_types::{FileDescriptorProto, FileDescriptorSet, SourceCodeInfo};
use std::collections::{BTreeMap, BTreeSet};

/// `FileDescriptorProto` field numbers of the top-level declarations, for comment paths.
const MESSAGE_TYPE: i32 = 4;
const ENUM_TYPE: i32 = 5;
const SERVICE: i32 = 6;

pub(super) fn layout(builder: &DescriptorBuilder) -> FileDescriptorSet {
    let decls = &builder.decls;
    let group_of = groups(decls);
    let mut members: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, group) in &group_of {
        members.entry(*group).or_default().push(*name);
    }
    let file_of = |full: &str| -> String {
        match group_of.get(full) {
            Some(group) => file_name(group),
            None => builder
                .well_known_types
                .get(full)
                .cloned()
                .unwrap_or_else(|| unreachable!("`{full}` was described before the layout")),
        }
    };

    // Imported files first: the well-known ones (which import nothing), then the groups in
    // dependency order.
    let mut file: Vec<FileDescriptorProto> = builder.well_known.values().cloned().collect();
    let mut done = BTreeSet::new();
    for group in members.keys() {
        visit(group, &members, decls, &group_of, &mut done, &mut |group| {
            file.push(group_file(group, &members[group], decls, &file_of));
        });
    }
    FileDescriptorSet { file }
}

/// Depth first over the groups a group refers to, then the group itself.
fn visit<'a>(
    group: &'a str,
    members: &BTreeMap<&'a str, Vec<&'a str>>,
    decls: &BTreeMap<String, Declared>,
    group_of: &BTreeMap<&'a str, &'a str>,
    done: &mut BTreeSet<&'a str>,
    emit: &mut dyn FnMut(&'a str),
) {
    if !done.insert(group) {
        return;
    }
    for member in &members[group] {
        for r in &decls[*member].refs {
            if let Some(&dep) = group_of.get(r.as_str()) {
                visit(dep, members, decls, group_of, done, emit);
            }
        }
    }
    emit(group);
}

/// Each described name -> the first name (in order) of its strongly connected component.
/// Quadratic, which is fine for the few types of a service.
fn groups(decls: &BTreeMap<String, Declared>) -> BTreeMap<&str, &str> {
    let reach: BTreeMap<&str, BTreeSet<&str>> = decls
        .keys()
        .map(|name| (name.as_str(), reachable(decls, name)))
        .collect();
    reach
        .iter()
        .map(|(&name, from)| {
            let first = from
                .iter()
                .find(|other| reach[*other].contains(name))
                .copied()
                .unwrap_or(name);
            (name, first)
        })
        .collect()
}

/// The described names reachable from `start` through references, `start` included.
fn reachable<'a>(decls: &'a BTreeMap<String, Declared>, start: &'a str) -> BTreeSet<&'a str> {
    let mut seen = BTreeSet::from([start]);
    let mut todo = vec![start];
    while let Some(name) = todo.pop() {
        for r in &decls[name].refs {
            if let Some((r, _)) = decls.get_key_value(r.as_str()) {
                if seen.insert(r) {
                    todo.push(r);
                }
            }
        }
    }
    seen
}

/// `a.b.Name` -> `a/b/Name.proto`.
fn file_name(full_name: &str) -> String {
    format!("{}.proto", full_name.replace('.', "/"))
}

/// The file of one group: its declarations (sorted by name), the files they import, and
/// their comments.
fn group_file(
    group: &str,
    members: &[&str],
    decls: &BTreeMap<String, Declared>,
    file_of: &dyn Fn(&str) -> String,
) -> FileDescriptorProto {
    let name = file_name(group);
    let package = &decls[group].package;
    let mut file = FileDescriptorProto {
        name: Some(name.clone()),
        package: (!package.is_empty()).then(|| package.clone()),
        syntax: Some("proto3".to_owned()),
        ..FileDescriptorProto::default()
    };
    let mut imports = BTreeSet::new();
    let mut locations = Vec::new();
    for member in members {
        let declared = &decls[*member];
        assert!(
            declared.package == *package,
            "`{group}` and `{member}` refer to each other but are in different packages: \
             protobuf files cannot import each other"
        );
        imports.extend(declared.refs.iter().map(|r| file_of(r)));
        let prefix = match &declared.decl {
            Decl::Message(m) => {
                file.message_type.push(m.clone());
                [MESSAGE_TYPE, file.message_type.len() as i32 - 1]
            }
            Decl::Enum(e) => {
                file.enum_type.push(e.clone());
                [ENUM_TYPE, file.enum_type.len() as i32 - 1]
            }
            Decl::Service(s) => {
                file.service.push(s.clone());
                [SERVICE, file.service.len() as i32 - 1]
            }
        };
        locations.extend(declared.comments.iter().map(|(path, comment)| Location {
            path: prefix.iter().chain(path).copied().collect(),
            // No source text: an empty span at the start.
            span: vec![0, 0, 0],
            leading_comments: Some(comment.clone()),
            ..Location::default()
        }));
    }
    imports.remove(&name);
    file.dependency = imports.into_iter().collect();
    if !locations.is_empty() {
        file.source_code_info = Some(SourceCodeInfo {
            location: locations,
        });
    }
    file
}
