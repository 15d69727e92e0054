//! OPA Wasm ABI 1.2 exports of `bootsource-opa.wasm`.
//!
//! OPA hosts own the heap layout: they read and reset the heap pointer
//! between evaluations (`opa_heap_ptr_get`/`opa_heap_ptr_set`) and write
//! the input of `opa_eval` just below the pointer they pass. So every
//! allocation goes through [`BumpHeap`], a bump allocator over the
//! imported memory whose top is that heap pointer. Nothing allocated on it
//! outlives an evaluation: the module keeps no heap state between calls.
//!
//! A value address handed to the host is a pointer to a boxed
//! [`serde_json::Value`]; a string address points at NUL-terminated JSON.
//! The `opa_wasm_abi_version` and `opa_wasm_abi_minor_version` globals
//! cannot be written in Rust: scripts/build-opa adds them after linking.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::Value;

const PAGE_BYTES: usize = 64 * 1024;

#[link(wasm_import_module = "env")]
extern "C" {
    /// Aborts the evaluation with a NUL-terminated message; never returns.
    fn opa_abort(message: *const u8);
}

extern "C" {
    /// First byte after the static data and the stack, set by the linker.
    static __heap_base: u8;
}

/// Bump allocator over the imported memory. `dealloc` and `realloc` reuse
/// the space only of the latest allocation; the rest is reclaimed when
/// the host resets the heap pointer.
struct BumpHeap {
    /// Next free address; 0 until the first use, which starts at `__heap_base`.
    top: AtomicUsize,
}

impl BumpHeap {
    fn top(&self) -> usize {
        match self.top.load(Ordering::Relaxed) {
            // The linker defines `__heap_base`; only its address is read.
            0 => core::ptr::addr_of!(__heap_base) as usize,
            top => top,
        }
    }

    fn set_top(&self, top: usize) {
        self.top.store(top, Ordering::Relaxed);
    }

    /// Grows the memory so that addresses below `end` exist; false when
    /// the host refuses to grow it.
    fn reserve(end: usize) -> bool {
        let size = core::arch::wasm32::memory_size(0) * PAGE_BYTES;
        if end <= size {
            return true;
        }
        let pages = (end - size).div_ceil(PAGE_BYTES);
        core::arch::wasm32::memory_grow(0, pages) != usize::MAX
    }
}

// SAFETY: blocks never overlap because `top` only moves past a block when
// it is handed out, and back only over the latest block when it is freed;
// the memory below `top` is never handed out twice before the host resets
// the pointer, which the ABI allows only between evaluations.
unsafe impl GlobalAlloc for BumpHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let start = self.top().next_multiple_of(layout.align());
        let Some(end) = start.checked_add(layout.size()) else {
            return core::ptr::null_mut();
        };
        if !Self::reserve(end) {
            return core::ptr::null_mut();
        }
        self.set_top(end);
        start as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ptr as usize + layout.size() == self.top() {
            self.set_top(ptr as usize);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let start = ptr as usize;
        if start + layout.size() == self.top() {
            let Some(end) = start.checked_add(new_size) else {
                return core::ptr::null_mut();
            };
            if !Self::reserve(end) {
                return core::ptr::null_mut();
            }
            self.set_top(end);
            return ptr;
        }
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return core::ptr::null_mut();
        };
        // SAFETY: the new block is fresh, so it does not overlap the old one.
        unsafe {
            let new = self.alloc(new_layout);
            if !new.is_null() {
                core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            }
            new
        }
    }
}

#[global_allocator]
static HEAP: BumpHeap = BumpHeap {
    top: AtomicUsize::new(0),
};

static PANIC_HOOK_SET: AtomicBool = AtomicBool::new(false);

/// Routes a panic's message to `opa_abort`, so that the host reports it
/// instead of a bare `unreachable` trap. The hook is a function item, a
/// zero-sized box, so installing it allocates nothing on the bump heap.
fn install_panic_hook() {
    if !PANIC_HOOK_SET.swap(true, Ordering::Relaxed) {
        std::panic::set_hook(Box::new(abort_with_message));
    }
}

fn abort_with_message(info: &std::panic::PanicHookInfo<'_>) {
    let mut message = format!("bootsource-opa: {info}").into_bytes();
    message.retain(|byte| *byte != 0);
    message.push(0);
    // SAFETY: the message is NUL-terminated and lives until the call ends.
    unsafe { opa_abort(message.as_ptr()) }
}

/// Moves `value` onto the heap and returns its address.
fn store_value(value: Value) -> i32 {
    Box::into_raw(Box::new(value)) as i32
}

/// Reads the value at `addr`; `None` for address 0.
///
/// # Safety
/// `addr` must be 0 or an address this module returned for a value during
/// the current evaluation.
unsafe fn load_value<'a>(addr: i32) -> Option<&'a Value> {
    // SAFETY: the caller guarantees the address holds a live value.
    unsafe { (addr as *const Value).as_ref() }
}

/// Writes `value` as NUL-terminated JSON and returns its address.
fn store_json(value: &Value) -> i32 {
    let mut text = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
    text.push(0);
    let text = text.into_boxed_slice();
    Box::into_raw(text) as *mut u8 as i32
}

/// Returns the bytes at `addr..addr + len`, `None` for an empty range.
///
/// # Safety
/// The range must lie inside the memory.
unsafe fn bytes<'a>(addr: i32, len: i32) -> Option<&'a [u8]> {
    let len = usize::try_from(len).ok().filter(|len| *len > 0)?;
    // SAFETY: the caller guarantees the range is inside the memory.
    Some(unsafe { core::slice::from_raw_parts(addr as usize as *const u8, len) })
}

/// Evaluation context of the `eval` path.
struct EvalContext {
    input: i32,
    entrypoint: i32,
    result: i32,
}

#[no_mangle]
pub extern "C" fn opa_malloc(size: i32) -> i32 {
    let Ok(layout) = Layout::from_size_align(size.max(0) as usize, 8) else {
        return 0;
    };
    // SAFETY: a zero-sized request gets the current top, which is never
    // dereferenced by this module.
    unsafe { HEAP.alloc(layout) as i32 }
}

/// Frees nothing: the host reclaims memory by resetting the heap pointer.
#[no_mangle]
pub extern "C" fn opa_free(_addr: i32) {}

#[no_mangle]
pub extern "C" fn opa_heap_ptr_get() -> i32 {
    HEAP.top() as i32
}

#[no_mangle]
pub extern "C" fn opa_heap_ptr_set(addr: i32) {
    HEAP.set_top(addr as usize);
}

/// Parses the JSON at `addr..addr + len` into a value; 0 when it is not
/// valid JSON.
#[no_mangle]
pub extern "C" fn opa_json_parse(addr: i32, len: i32) -> i32 {
    install_panic_hook();
    // SAFETY: the host passes a range it wrote into the memory.
    let text = unsafe { bytes(addr, len) }.unwrap_or_default();
    match serde_json::from_slice::<Value>(text) {
        Ok(value) => store_value(value),
        Err(_) => 0,
    }
}

/// Parses a Rego value; without sets or sets of this module, the same as
/// JSON.
#[no_mangle]
pub extern "C" fn opa_value_parse(addr: i32, len: i32) -> i32 {
    opa_json_parse(addr, len)
}

#[no_mangle]
pub extern "C" fn opa_json_dump(value: i32) -> i32 {
    // SAFETY: the host passes a value address this module returned.
    let value = unsafe { load_value(value) }.unwrap_or(&Value::Null);
    store_json(value)
}

#[no_mangle]
pub extern "C" fn opa_value_dump(value: i32) -> i32 {
    opa_json_dump(value)
}

#[no_mangle]
pub extern "C" fn entrypoints() -> i32 {
    store_value(super::entrypoints())
}

/// Returns the built-in functions the module calls: none.
#[no_mangle]
pub extern "C" fn builtins() -> i32 {
    store_value(Value::Object(serde_json::Map::new()))
}

#[no_mangle]
pub extern "C" fn opa_eval_ctx_new() -> i32 {
    let context = EvalContext {
        input: 0,
        entrypoint: 0,
        result: 0,
    };
    Box::into_raw(Box::new(context)) as i32
}

/// Returns the context at `addr`.
///
/// # Safety
/// `addr` must come from `opa_eval_ctx_new` in the current evaluation.
unsafe fn context<'a>(addr: i32) -> Option<&'a mut EvalContext> {
    // SAFETY: the caller guarantees the address holds a live context.
    unsafe { (addr as *mut EvalContext).as_mut() }
}

#[no_mangle]
pub extern "C" fn opa_eval_ctx_set_input(ctx: i32, input: i32) {
    // SAFETY: the host passes a context address this module returned.
    if let Some(context) = unsafe { context(ctx) } {
        context.input = input;
    }
}

/// Accepts the data document and ignores it: the policy reads only its
/// input.
#[no_mangle]
pub extern "C" fn opa_eval_ctx_set_data(_ctx: i32, _data: i32) {}

#[no_mangle]
pub extern "C" fn opa_eval_ctx_set_entrypoint(ctx: i32, entrypoint: i32) {
    // SAFETY: the host passes a context address this module returned.
    if let Some(context) = unsafe { context(ctx) } {
        context.entrypoint = entrypoint;
    }
}

#[no_mangle]
pub extern "C" fn opa_eval_ctx_get_result(ctx: i32) -> i32 {
    // SAFETY: the host passes a context address this module returned.
    unsafe { context(ctx) }.map_or(0, |context| context.result)
}

/// Evaluates the context's entrypoint on its input; returns 0, the ABI's
/// success code, because failures are rejections in the result.
#[no_mangle]
pub extern "C" fn eval(ctx: i32) -> i32 {
    install_panic_hook();
    // SAFETY: the host passes a context address this module returned.
    let Some(context) = (unsafe { context(ctx) }) else {
        return 0;
    };
    // SAFETY: the input address came from `opa_json_parse` in this evaluation.
    let input = unsafe { load_value(context.input) };
    context.result = store_value(super::evaluate(context.entrypoint, input));
    0
}

/// The one-call evaluation of ABI 1.2: the input is raw JSON at
/// `input..input + input_len`, the heap starts at `heap_ptr`, and the
/// result set comes back as NUL-terminated JSON. Only `format` 0 (JSON)
/// exists; the data document is ignored as in `eval`.
#[no_mangle]
pub extern "C" fn opa_eval(
    _reserved: i32,
    entrypoint: i32,
    _data: i32,
    input: i32,
    input_len: i32,
    heap_ptr: i32,
    _format: i32,
) -> i32 {
    HEAP.set_top(heap_ptr as usize);
    install_panic_hook();
    // SAFETY: the host wrote `input_len` bytes of input at `input`.
    let input = unsafe { bytes(input, input_len) };
    store_json(&super::evaluate_bytes(entrypoint, input))
}
