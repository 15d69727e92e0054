// Loads bootsource-opa.wasm with OPA's JavaScript SDK and checks that both
// entrypoints give, for every AdmissionReview under
// tests/test_data/admission/, the verdict of the waPC build. Run
// scripts/build-opa and the `opa_expected_verdicts` Rust test first: they
// write target/opa/bootsource-opa.wasm and target/opa/expected-verdicts.json.

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { loadPolicy } from "@open-policy-agent/opa-wasm";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const admissionDir = join(root, "tests/test_data/admission");
const wasm = readFileSync(join(root, "target/opa/bootsource-opa.wasm"));
const expected = JSON.parse(readFileSync(join(root, "target/opa/expected-verdicts.json"), "utf8"));

const VALIDATE = "bootsource/validate";
const VIOLATION = "bootsource/violation";

const files = readdirSync(admissionDir).filter((name) => name.endsWith(".json")).sort();

function readReview(name) {
  return JSON.parse(readFileSync(join(admissionDir, name), "utf8"));
}

/** Returns the one `result` of a result set. */
function result(resultSet) {
  assert.equal(resultSet.length, 1, `result set ${JSON.stringify(resultSet)}`);
  return resultSet[0].result;
}

/** Resolves an RFC 6902 JSON pointer to its parent container and last key. */
function parentOf(target, path) {
  const keys = path.split("/").slice(1).map((key) => key.replaceAll("~1", "/").replaceAll("~0", "~"));
  const last = keys.pop();
  let container = target;
  for (const key of keys) {
    container = container[key];
    assert.ok(container !== undefined && container !== null, `patch path ${path} does not exist`);
  }
  return { container, last };
}

/** Applies the `add` operations of an RFC 6902 patch, the only ones emitted. */
function applyPatch(object, patch) {
  const target = structuredClone(object);
  for (const operation of patch) {
    assert.equal(operation.op, "add", `unexpected patch operation ${JSON.stringify(operation)}`);
    const { container, last } = parentOf(target, operation.path);
    if (Array.isArray(container)) {
      const index = last === "-" ? container.length : Number(last);
      container.splice(index, 0, operation.value);
    } else {
      container[last] = operation.value;
    }
  }
  return target;
}

async function load() {
  return loadPolicy(wasm);
}

test("module loads with the OPA SDK defaults", async () => {
  const policy = await load();
  assert.equal(policy.minorVersion, 2);
  assert.deepEqual(policy.entrypoints, { [VALIDATE]: 0, [VIOLATION]: 1 });
});

test("module imports memory and exports no waPC", () => {
  const module = new WebAssembly.Module(wasm);
  const imports = WebAssembly.Module.imports(module);
  const memory = imports.filter((entry) => entry.kind === "memory");
  assert.deepEqual(memory, [{ module: "env", name: "memory", kind: "memory" }]);
  for (const entry of imports) {
    assert.equal(entry.module, "env", `import ${entry.module}.${entry.name}`);
  }
  const exports = WebAssembly.Module.exports(module).map((entry) => entry.name);
  for (const name of ["opa_eval", "eval", "entrypoints", "builtins", "opa_malloc", "opa_json_dump"]) {
    assert.ok(exports.includes(name), `missing export ${name}`);
  }
  assert.ok(!exports.includes("__guest_call"), "the waPC export __guest_call is present");
});

test("every admission file has an expected verdict", () => {
  assert.ok(files.length > 0, `no AdmissionReview files in ${admissionDir}`);
  for (const name of files) {
    assert.ok(name in expected, `${name}: missing from expected-verdicts.json`);
  }
});

test("validate matches waPC verdicts", async () => {
  const policy = await load();
  for (const name of files) {
    const review = readReview(name);
    const want = expected[name];
    const verdict = result(policy.evaluate(review, VALIDATE));
    assert.equal(verdict.allowed, want.accepted, `${name}: allowed`);
    assert.equal(verdict.message ?? null, want.message ?? null, `${name}: message`);
    assert.equal(verdict.code ?? null, want.code ?? null, `${name}: code`);
    assert.deepEqual(verdict.warnings ?? [], want.warnings ?? [], `${name}: warnings`);
    const patch = verdict.patch ?? [];
    if (want.mutated_object === undefined) {
      assert.deepEqual(patch, [], `${name}: patch without a mutation`);
    } else {
      const mutated = applyPatch(review.request.object, patch);
      assert.deepEqual(mutated, want.mutated_object, `${name}: patched object`);
    }
  }
});

test("violation matches waPC verdicts", async () => {
  const policy = await load();
  for (const name of files) {
    const want = expected[name];
    const violations = result(policy.evaluate(readReview(name), VIOLATION));
    if (want.accepted) {
      assert.deepEqual(violations, [], `${name}: violations of an accepted request`);
      continue;
    }
    assert.equal(violations.length, 1, `${name}: ${JSON.stringify(violations)}`);
    assert.equal(violations[0].msg, want.message, `${name}: msg`);
    assert.equal(violations[0].details.code ?? null, want.code ?? null, `${name}: details.code`);
  }
});

test("bare request matches AdmissionReview", async () => {
  const policy = await load();
  for (const name of files) {
    const review = readReview(name);
    const wrapped = policy.evaluate(review, VALIDATE);
    const bare = policy.evaluate(review.request, VALIDATE);
    assert.deepEqual(bare, wrapped, name);
  }
});

test("context path matches one-call path", async () => {
  const policy = await load();
  const oneCall = files.map((name) => policy.evaluate(readReview(name), VALIDATE));
  // ABI 1.1 hosts evaluate through opa_eval_ctx_* and eval; the SDK takes
  // that path for modules that report an older minor version.
  policy.minorVersion = 1;
  const context = files.map((name) => policy.evaluate(readReview(name), VALIDATE));
  assert.deepEqual(context, oneCall);
});

test("repeated evaluations give the same verdict", async () => {
  const policy = await load();
  const review = readReview("hyperconverged-create-mutated.json");
  const first = policy.evaluate(review, VALIDATE);
  for (let i = 0; i < 200; i++) {
    assert.deepEqual(policy.evaluate(review, VALIDATE), first, `evaluation ${i}`);
  }
});

test("bad input rejected without trap", async () => {
  const policy = await load();
  const podReview = readReview("pod-create-unexpected-kind-rejected.json");
  const cases = [
    ["malformed JSON", new TextEncoder().encode('{"request": {"operation": "CRE').buffer],
    ["invalid UTF-8", Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d]).buffer],
    ["no input", undefined],
    ["string input", "not an AdmissionReview"],
    ["number input", 42],
    ["request not an object", { request: 42 }],
    ["unexpected kind", podReview],
    ["invalid settings", { request: podReview.request, settings: { strict: true } }],
  ];
  for (const [name, input] of cases) {
    const verdict = result(policy.evaluate(input, VALIDATE));
    assert.equal(verdict.allowed, false, `${name}: ${JSON.stringify(verdict)}`);
    assert.ok(verdict.message?.length > 0, `${name}: no message`);
    assert.equal(verdict.patch, undefined, `${name}: patched`);
    const violations = result(policy.evaluate(input, VIOLATION));
    assert.equal(violations.length, 1, `${name}: ${JSON.stringify(violations)}`);
    assert.equal(violations[0].msg, verdict.message, `${name}: violation msg`);
  }
});
