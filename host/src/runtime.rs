//! Runs `bootsource.wasm` under wasmtime as a waPC guest.
//!
//! The module is compiled once per process (or loaded from the on-disk
//! cache, see [`crate::module_cache`]); each call gets a fresh store and instance,
//! so no state leaks between calls, and runs under three limits: fuel
//! (instructions), an epoch deadline (wall-clock time) and a memory cap.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use bootsource_guest::contract::{op, ContractInfo, Envelope, CONTRACT_MAJOR};
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasmtime::{
    Caller, Config, Engine, InstancePre, Linker, Memory, OptLevel, ResourceLimiter, Store, Trap,
};

/// The guest module this binary was built with.
pub static EMBEDDED_MODULE: &[u8] = include_bytes!(env!("BOOTSOURCE_EMBEDDED_WASM"));

/// Fuel per call: roughly the number of WebAssembly instructions a call may
/// run before it is stopped. Defaults to 20 billion, about ten times what a
/// plan over ten thousand objects uses.
pub const DEFAULT_FUEL: u64 = 20_000_000_000;
/// Wall-clock limit per call. Defaults to 30 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Linear-memory cap per call, in bytes. Defaults to 1 GiB.
pub const DEFAULT_MAX_MEMORY_BYTES: usize = 1 << 30;
/// Interval of the epoch ticker that enforces the timeout; the timeout is
/// rounded up to a multiple of it.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Most bytes of guest console output kept per call.
const MAX_CONSOLE_BYTES: usize = 64 << 10;

/// Limits applied to every call.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Fuel per call, see [`DEFAULT_FUEL`].
    pub fuel: u64,
    /// Wall-clock limit per call, see [`DEFAULT_TIMEOUT`].
    pub timeout: Duration,
    /// Memory cap in bytes, see [`DEFAULT_MAX_MEMORY_BYTES`].
    pub max_memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: DEFAULT_FUEL,
            timeout: DEFAULT_TIMEOUT,
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
        }
    }
}

/// Failures of loading or calling the module.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("failed to compile the WebAssembly module: {0}")]
    Compile(#[source] wasmtime::Error),
    #[error("the WebAssembly module does not provide the waPC interface: {0}")]
    NotWapc(#[source] wasmtime::Error),
    #[error(
        "the module implements contract {found_major}.{found_minor}, but this bootsource needs {expected}.x; \
         build the module from the same bootsource release or drop --module"
    )]
    ContractMismatch {
        found_major: u32,
        found_minor: u32,
        expected: u32,
    },
    #[error("the module ran out of fuel after {fuel} units (the fuel limit) in operation {operation:?}; the input is too large or the module loops")]
    OutOfFuel { operation: String, fuel: u64 },
    #[error("the module exceeded the time limit of {timeout:?} in operation {operation:?}")]
    Timeout {
        operation: String,
        timeout: Duration,
    },
    #[error(
        "the module exceeded its memory limit of {max_bytes} bytes in operation {operation:?}"
    )]
    OutOfMemory { operation: String, max_bytes: usize },
    #[error("the module trapped in operation {operation:?}: {source}")]
    Trap {
        operation: String,
        #[source]
        source: wasmtime::Error,
    },
    #[error("the module failed operation {operation:?}: {message}")]
    Guest { operation: String, message: String },
    #[error(
        "the module returned a response that is not a valid envelope for {operation:?}: {message}"
    )]
    Response { operation: String, message: String },
}

/// Per-call host state: the waPC exchange buffers and the memory cap.
struct CallState {
    operation: Vec<u8>,
    request: Vec<u8>,
    response: Option<Vec<u8>>,
    guest_error: Option<Vec<u8>>,
    host_error: Vec<u8>,
    console: Vec<u8>,
    memory: MemoryCap,
}

/// A [`ResourceLimiter`] that remembers when it refused growth, so that the
/// resulting trap can be reported as a memory limit.
struct MemoryCap {
    max_bytes: usize,
    refused: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.max_bytes;
        self.refused |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// A compiled module, ready to be called any number of times.
pub struct Runtime {
    engine: Engine,
    pre: InstancePre<CallState>,
    limits: Limits,
    ticker_stop: Arc<AtomicBool>,
    contract: ContractInfo,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl Runtime {
    /// Loads the module embedded in this binary.
    pub fn embedded() -> Result<Self, RuntimeError> {
        Self::new(EMBEDDED_MODULE, Limits::default())
    }

    /// Compiles `wasm`, links the waPC host functions and checks the
    /// module's contract version against this host's.
    pub fn new(wasm: &[u8], limits: Limits) -> Result<Self, RuntimeError> {
        let mut config = Config::new();
        config.consume_fuel(true);
        config.epoch_interruption(true);
        // A call runs for milliseconds, while compiling the module takes
        // seconds; unoptimised code compiles several times faster.
        config.cranelift_opt_level(OptLevel::None);
        let engine = Engine::new(&config).map_err(RuntimeError::Compile)?;
        let module =
            crate::module_cache::load_or_compile(&engine, wasm).map_err(RuntimeError::Compile)?;
        let mut linker = Linker::new(&engine);
        link_wapc(&mut linker).map_err(RuntimeError::NotWapc)?;
        let pre = linker
            .instantiate_pre(&module)
            .map_err(RuntimeError::NotWapc)?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(engine.clone(), ticker_stop.clone());

        let mut runtime = Runtime {
            engine,
            pre,
            limits,
            ticker_stop,
            contract: ContractInfo {
                major: 0,
                minor: 0,
                operations: Vec::new(),
            },
        };
        let contract: ContractInfo = runtime
            .call_json(op::CONTRACT, &serde_json::json!({}))?
            .map_err(|e| RuntimeError::Guest {
                operation: op::CONTRACT.into(),
                message: e.to_string(),
            })?;
        if contract.major != CONTRACT_MAJOR {
            return Err(RuntimeError::ContractMismatch {
                found_major: contract.major,
                found_minor: contract.minor,
                expected: CONTRACT_MAJOR,
            });
        }
        runtime.contract = contract;
        Ok(runtime)
    }

    /// Returns the contract version the module reported.
    pub fn contract(&self) -> &ContractInfo {
        &self.contract
    }

    /// Calls `operation` with a raw payload and returns the raw response.
    pub fn call(&self, operation: &str, payload: &[u8]) -> Result<Vec<u8>, RuntimeError> {
        let state = CallState {
            operation: operation.as_bytes().to_vec(),
            request: payload.to_vec(),
            response: None,
            guest_error: None,
            host_error: Vec::new(),
            console: Vec::new(),
            memory: MemoryCap {
                max_bytes: self.limits.max_memory_bytes,
                refused: false,
            },
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.memory);
        store
            .set_fuel(self.limits.fuel)
            .map_err(|e| self.trap(operation, &store, e))?;
        let ticks = self
            .limits
            .timeout
            .as_millis()
            .div_ceil(EPOCH_TICK.as_millis())
            .max(1);
        store.set_epoch_deadline(ticks as u64);

        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| self.trap(operation, &store, e))?;
        for init in ["_start", "wapc_init"] {
            if let Ok(func) = instance.get_typed_func::<(), ()>(&mut store, init) {
                func.call(&mut store, ())
                    .map_err(|e| self.trap(operation, &store, e))?;
            }
        }
        let guest_call = instance
            .get_typed_func::<(i32, i32), i32>(&mut store, "__guest_call")
            .map_err(RuntimeError::NotWapc)?;
        let op_len = i32::try_from(operation.len()).map_err(|_| self.too_large(operation))?;
        let payload_len = i32::try_from(payload.len()).map_err(|_| self.too_large(operation))?;
        let succeeded = guest_call
            .call(&mut store, (op_len, payload_len))
            .map_err(|e| self.trap(operation, &store, e))?;

        let state = store.into_data();
        if succeeded == 1 {
            state.response.ok_or_else(|| RuntimeError::Response {
                operation: operation.into(),
                message: "the guest reported success without a response".into(),
            })
        } else {
            let message = state
                .guest_error
                .map(|e| String::from_utf8_lossy(&e).into_owned())
                .unwrap_or_else(|| "no error message".into());
            Err(RuntimeError::Guest {
                operation: operation.into(),
                message,
            })
        }
    }

    /// Calls `operation` with `request` as JSON and decodes the envelope:
    /// the outer error is a runtime failure, the inner one an error value
    /// the module returned.
    pub fn call_json<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        operation: &str,
        request: &Req,
    ) -> Result<Result<Resp, bootsource_guest::Error>, RuntimeError> {
        let payload = serde_json::to_vec(request).map_err(|e| RuntimeError::Response {
            operation: operation.into(),
            message: format!("request could not be encoded: {e}"),
        })?;
        let bytes = self.call(operation, &payload)?;
        decode_envelope(operation, &bytes)
    }

    fn trap(
        &self,
        operation: &str,
        store: &Store<CallState>,
        error: wasmtime::Error,
    ) -> RuntimeError {
        match error.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => RuntimeError::OutOfFuel {
                operation: operation.into(),
                fuel: self.limits.fuel,
            },
            Some(Trap::Interrupt) => RuntimeError::Timeout {
                operation: operation.into(),
                timeout: self.limits.timeout,
            },
            _ if store.data().memory.refused => RuntimeError::OutOfMemory {
                operation: operation.into(),
                max_bytes: self.limits.max_memory_bytes,
            },
            _ => RuntimeError::Trap {
                operation: operation.into(),
                source: error,
            },
        }
    }

    fn too_large(&self, operation: &str) -> RuntimeError {
        RuntimeError::Guest {
            operation: operation.into(),
            message: "the request is larger than 2 GiB".into(),
        }
    }
}

/// Decodes a `{"ok": ...}` / `{"error": ...}` envelope.
pub fn decode_envelope<Resp: DeserializeOwned>(
    operation: &str,
    bytes: &[u8],
) -> Result<Result<Resp, bootsource_guest::Error>, RuntimeError> {
    let envelope: Envelope<Resp> =
        serde_json::from_slice(bytes).map_err(|e| RuntimeError::Response {
            operation: operation.into(),
            message: e.to_string(),
        })?;
    Ok(envelope.into_result())
}

fn spawn_epoch_ticker(engine: Engine, stop: Arc<AtomicBool>) {
    thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            thread::sleep(EPOCH_TICK);
            engine.increment_epoch();
        }
    });
}

fn memory(caller: &mut Caller<'_, CallState>) -> wasmtime::Result<Memory> {
    caller
        .get_export("memory")
        .and_then(|export| export.into_memory())
        .ok_or_else(|| wasmtime::Error::msg("the guest exports no memory"))
}

fn read(caller: &mut Caller<'_, CallState>, ptr: i32, len: i32) -> wasmtime::Result<Vec<u8>> {
    let memory = memory(caller)?;
    let mut buffer = vec![0; len.max(0) as usize];
    memory.read(&*caller, ptr as u32 as usize, &mut buffer)?;
    Ok(buffer)
}

fn write(caller: &mut Caller<'_, CallState>, ptr: i32, bytes: &[u8]) -> wasmtime::Result<()> {
    let memory = memory(caller)?;
    memory.write(caller, ptr as u32 as usize, bytes)?;
    Ok(())
}

/// Defines the `wapc` imports. The guest is pure, so `__host_call` always
/// fails with a message rather than reaching anything outside.
fn link_wapc(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "wapc",
        "__guest_request",
        |mut caller: Caller<'_, CallState>, op_ptr: i32, ptr: i32| -> wasmtime::Result<()> {
            let operation = caller.data().operation.clone();
            let request = caller.data().request.clone();
            write(&mut caller, op_ptr, &operation)?;
            write(&mut caller, ptr, &request)
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__guest_response",
        |mut caller: Caller<'_, CallState>, ptr: i32, len: i32| -> wasmtime::Result<()> {
            let bytes = read(&mut caller, ptr, len)?;
            caller.data_mut().response = Some(bytes);
            Ok(())
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__guest_error",
        |mut caller: Caller<'_, CallState>, ptr: i32, len: i32| -> wasmtime::Result<()> {
            let bytes = read(&mut caller, ptr, len)?;
            caller.data_mut().guest_error = Some(bytes);
            Ok(())
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__host_call",
        |mut caller: Caller<'_, CallState>,
         _bd_ptr: i32,
         _bd_len: i32,
         _ns_ptr: i32,
         _ns_len: i32,
         _op_ptr: i32,
         _op_len: i32,
         _ptr: i32,
         _len: i32|
         -> i32 {
            caller.data_mut().host_error = b"bootsource provides no host calls".to_vec();
            0
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__host_response_len",
        |_: Caller<'_, CallState>| -> i32 { 0 },
    )?;
    linker.func_wrap(
        "wapc",
        "__host_response",
        |_: Caller<'_, CallState>, _ptr: i32| {},
    )?;
    linker.func_wrap(
        "wapc",
        "__host_error_len",
        |caller: Caller<'_, CallState>| -> i32 { caller.data().host_error.len() as i32 },
    )?;
    linker.func_wrap(
        "wapc",
        "__host_error",
        |mut caller: Caller<'_, CallState>, ptr: i32| -> wasmtime::Result<()> {
            let error = caller.data().host_error.clone();
            write(&mut caller, ptr, &error)
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__console_log",
        |mut caller: Caller<'_, CallState>, ptr: i32, len: i32| -> wasmtime::Result<()> {
            let bytes = read(&mut caller, ptr, len.min(MAX_CONSOLE_BYTES as i32))?;
            let console = &mut caller.data_mut().console;
            if console.len() + bytes.len() <= MAX_CONSOLE_BYTES {
                console.extend_from_slice(&bytes);
                console.push(b'\n');
            }
            Ok(())
        },
    )?;
    Ok(())
}
