// Adds the exported globals `opa_wasm_abi_version` and
// `opa_wasm_abi_minor_version` to a linked module. OPA hosts read the ABI
// version from them, and Rust can only export globals that hold
// addresses, so scripts/build-opa adds them after linking.
//
// Usage: node add-abi-globals.mjs IN.wasm OUT.wasm
// Prints the module's memory import limits in pages.

import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const ABI_VERSION = 1;
// 1.2 is the first minor version with the one-call `opa_eval`.
const ABI_MINOR_VERSION = 2;

const SECTION_IMPORT = 2;
const SECTION_GLOBAL = 6;
const SECTION_EXPORT = 7;
const KIND_GLOBAL = 3;

function readU32(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[at.offset++];
    if (byte === undefined) throw new Error("truncated LEB128 number");
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return value;
    shift += 7;
  }
}

function u32(value) {
  const out = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

function s32(value) {
  const out = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    const done = (value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function name(text) {
  const bytes = [...new TextEncoder().encode(text)];
  return [...u32(bytes.length), ...bytes];
}

function skipName(bytes, at) {
  const length = readU32(bytes, at);
  at.offset += length;
}

function skipLimits(bytes, at) {
  const flags = bytes[at.offset++];
  const min = readU32(bytes, at);
  const max = flags & 1 ? readU32(bytes, at) : undefined;
  return { min, max };
}

/** Splits a module into its sections: `{ id, body }` in file order. */
function sections(bytes) {
  const list = [];
  const at = { offset: 8 };
  while (at.offset < bytes.length) {
    const id = bytes[at.offset++];
    const size = readU32(bytes, at);
    list.push({ id, body: bytes.subarray(at.offset, at.offset + size) });
    at.offset += size;
  }
  return list;
}

/**
 * Returns the number of imported globals, which come first in the global
 * index space, and the limits of the imported memory.
 */
function readImports(body) {
  const at = { offset: 0 };
  const count = readU32(body, at);
  let globals = 0;
  let memory;
  for (let i = 0; i < count; i++) {
    skipName(body, at); // module
    skipName(body, at); // field
    const kind = body[at.offset++];
    if (kind === 0) readU32(body, at);
    else if (kind === 1) {
      at.offset++;
      skipLimits(body, at);
    } else if (kind === 2) memory = skipLimits(body, at);
    else if (kind === KIND_GLOBAL) {
      at.offset += 2;
      globals++;
    } else if (kind === 4) {
      at.offset++;
      readU32(body, at);
    } else throw new Error(`unknown import kind ${kind}`);
  }
  return { globals, memory };
}

/** Appends entries to a vector section body: new count, old entries, new ones. */
function extendVector(body, entries) {
  const at = { offset: 0 };
  const count = body.length === 0 ? 0 : readU32(body, at);
  return Uint8Array.from([
    ...u32(count + entries.length),
    ...body.subarray(at.offset),
    ...entries.flat(),
  ]);
}

function encode(list) {
  const parts = [[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]];
  for (const { id, body } of list) {
    parts.push([id, ...u32(body.length)], body);
  }
  return Buffer.concat(parts.map((part) => Uint8Array.from(part)));
}

export function addAbiGlobals(bytes) {
  const list = sections(bytes);
  const imports = list.find(({ id }) => id === SECTION_IMPORT);
  const { globals: importedGlobals, memory } = imports
    ? readImports(imports.body)
    : { globals: 0, memory: undefined };

  let globalSection = list.find(({ id }) => id === SECTION_GLOBAL);
  if (!globalSection) {
    globalSection = { id: SECTION_GLOBAL, body: new Uint8Array() };
    const before = list.findIndex(({ id }) => id > SECTION_GLOBAL && id !== 0 && id !== 12);
    list.splice(before === -1 ? list.length : before, 0, globalSection);
  }
  const definedGlobals = globalSection.body.length === 0
    ? 0
    : readU32(globalSection.body, { offset: 0 });
  const exportSection = list.find(({ id }) => id === SECTION_EXPORT);
  if (!exportSection) throw new Error("the module has no export section");

  const values = [
    ["opa_wasm_abi_version", ABI_VERSION],
    ["opa_wasm_abi_minor_version", ABI_MINOR_VERSION],
  ];
  // An immutable i32 global initialised by `i32.const VALUE; end`.
  globalSection.body = extendVector(
    globalSection.body,
    values.map(([, value]) => [0x7f, 0x00, 0x41, ...s32(value), 0x0b]),
  );
  const firstIndex = importedGlobals + definedGlobals;
  exportSection.body = extendVector(
    exportSection.body,
    values.map(([exportName], i) => [...name(exportName), KIND_GLOBAL, ...u32(firstIndex + i)]),
  );
  return { bytes: encode(list), memory };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) {
    console.error("usage: node add-abi-globals.mjs IN.wasm OUT.wasm");
    process.exit(2);
  }
  const { bytes, memory } = addAbiGlobals(readFileSync(input));
  new WebAssembly.Module(bytes); // fails here, not in a host, if the edit broke the module
  writeFileSync(output, bytes);
  const max = memory?.max === undefined ? "none" : memory.max;
  console.log(`${output}: imports env.memory, min ${memory?.min} pages, max ${max}`);
}
