// The world's protobuf schema, built from the FileDescriptorSet the server advertises.
// protobufjs (served from /vendor, global `protobuf`) decodes the descriptor set with
// its own descriptor.proto, and the message types are rebuilt from it here.

const FIELD_TYPES = {
  1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 6: "fixed64", 7: "fixed32",
  8: "bool", 9: "string", 12: "bytes", 13: "uint32", 15: "sfixed32", 16: "sfixed64",
  17: "sint32", 18: "sint64",
};
const LABEL_REPEATED = 3;

let descriptorRoot = null;

async function descriptorTypes() {
  if (!descriptorRoot) {
    const response = await fetch("/vendor/descriptor.json");
    if (!response.ok) throw new Error(`cannot load descriptor.json (${response.status})`);
    descriptorRoot = protobuf.Root.fromJSON(await response.json());
  }
  return descriptorRoot.lookupType("google.protobuf.FileDescriptorSet");
}

function addEnum(parent, d) {
  const values = {};
  for (const v of d.value) values[v.name] = v.number;
  parent.add(new protobuf.Enum(d.name, values));
}

function addMessage(parent, d) {
  const type = new protobuf.Type(d.name);
  for (const e of d.enumType) addEnum(type, e);
  for (const n of d.nestedType) addMessage(type, n);
  const oneofs = d.oneofDecl.map((o) => new protobuf.OneOf(o.name));
  for (const f of d.field) {
    const typeName = f.typeName || FIELD_TYPES[f.type];  // names keep their leading dot: absolute
    const field = new protobuf.Field(f.name, f.number, typeName, f.label === LABEL_REPEATED ? "repeated" : undefined);
    type.add(field);
    if (Object.prototype.hasOwnProperty.call(f, "oneofIndex") && !f.proto3Optional) oneofs[f.oneofIndex].add(field);
  }
  for (const o of oneofs) type.add(o);
  parent.add(type);
}

/** Root with every message of a base64 FileDescriptorSet. */
export async function schemaFromDescriptorSet(base64) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const fds = (await descriptorTypes()).decode(bytes);
  const root = new protobuf.Root();
  for (const file of fds.file) {
    const ns = file.package ? root.define(file.package) : root;
    for (const e of file.enumType) addEnum(ns, e);
    for (const m of file.messageType) addMessage(ns, m);
  }
  root.resolveAll();
  return root;
}

/** Enum value name without its type prefix: TEAM_RED -> red. */
export function enumName(root, enumPath, value) {
  const e = root.lookupEnum(enumPath);
  const name = e.valuesById[value] || String(value);
  const prefix = e.name.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase() + "_";
  return (name.startsWith(prefix) ? name.slice(prefix.length) : name).toLowerCase().replace(/_/g, " ");
}
