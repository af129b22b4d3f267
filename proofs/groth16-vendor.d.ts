// Ambient types for the parts of snarkjs 0.7.6 and ffjavascript 0.3.1 that meshwork's Groth16 code uses
// (neither package ships types). Byte buffers are ffjavascript's internal form: little-endian Montgomery
// field elements; G1/G2 points affine (2 coordinates) or Jacobian (3).

declare module 'snarkjs' {
  /** An in-memory "file" for snarkjs (fastfile's mem type); `data` is filled in when snarkjs writes one. */
  export interface MemFile {
    type: 'mem';
    data?: Uint8Array;
  }
  export interface SnarkjsProof {
    pi_a: string[];
    pi_b: string[][];
    pi_c: string[];
    protocol: string;
    curve: string;
  }
  export interface Logger {
    debug(s: string): void;
    info(s: string): void;
    warn(s: string): void;
    error(s: string): void;
  }
  export const groth16: {
    fullProve(input: Record<string, unknown>, wasm: MemFile | string, zkey: MemFile | string, logger?: Logger): Promise<{ proof: SnarkjsProof; publicSignals: string[] }>;
    prove(zkey: MemFile | string, wtns: MemFile | string, logger?: Logger): Promise<{ proof: SnarkjsProof; publicSignals: string[] }>;
    verify(vk: unknown, publicSignals: readonly (string | bigint)[], proof: unknown, logger?: Logger): Promise<boolean>;
  };
  export const wtns: {
    calculate(input: Record<string, unknown>, wasm: MemFile | string, wtns: MemFile | string): Promise<void>;
    check(r1cs: MemFile | string, wtns: MemFile | string, logger?: Logger): Promise<boolean>;
    exportJson(wtns: MemFile | string): Promise<bigint[]>;
  };
}

declare module 'ffjavascript' {
  /** A prime field on ffjavascript's Wasm engine (F1, Fr, F2, F12). */
  export interface WasmField {
    n8: number;
    one: Uint8Array;
    zero: Uint8Array;
    /** F1/Fr: a bigint; F2: [c0, c1]. Returns Montgomery form. */
    fromObject(a: unknown): Uint8Array;
    toObject(a: Uint8Array): unknown;
    add(a: Uint8Array, b: Uint8Array): Uint8Array;
    mul(a: Uint8Array, b: Uint8Array): Uint8Array;
    neg(a: Uint8Array): Uint8Array;
    square(a: Uint8Array): Uint8Array;
    inv(a: Uint8Array): Uint8Array;
    eq(a: Uint8Array, b: Uint8Array): boolean;
    isZero(a: Uint8Array): boolean;
    exp(a: Uint8Array, e: bigint | Uint8Array): Uint8Array;
  }
  /** G1 or G2 on the Wasm engine. */
  export interface WasmGroup {
    F: WasmField;
    /** The generator (Jacobian). */
    g: Uint8Array;
    zero: Uint8Array;
    isValid(a: Uint8Array): boolean;
    isZero(a: Uint8Array): boolean;
    add(a: Uint8Array, b: Uint8Array): Uint8Array;
    neg(a: Uint8Array): Uint8Array;
    eq(a: Uint8Array, b: Uint8Array): boolean;
    timesScalar(a: Uint8Array, s: bigint | Uint8Array): Uint8Array;
    toAffine(a: Uint8Array): Uint8Array;
    toJacobian(a: Uint8Array): Uint8Array;
    fromObject(a: unknown): Uint8Array;
    toObject(a: Uint8Array): unknown;
    /** Multi-scalar multiplication over affine bases (sG = 2 * F.n8 bytes each); scalars little-endian, equal widths. */
    multiExpAffine(bases: Uint8Array, scalars: Uint8Array): Promise<Uint8Array>;
  }
  /** One command of a task run on the engine's Wasm threads (see ffjavascript's threadman_thread.js). */
  export type TaskCommand =
    | { cmd: 'ALLOCSET'; var: number; buff: Uint8Array }
    | { cmd: 'ALLOC'; var: number; len: number }
    | { cmd: 'SET'; var: number; buff: Uint8Array }
    | { cmd: 'CALL'; fnName: string; params: ({ var: number; offset?: number } | { val: number })[] }
    | { cmd: 'GET'; out: number; var: number; len: number };
  export interface ThreadManager {
    concurrency: number;
    singleThread: boolean;
    queueAction(task: TaskCommand[]): Promise<Uint8Array[]>;
  }
  export interface Bn128 {
    name: string;
    q: bigint;
    r: bigint;
    prePSize: number;
    preQSize: number;
    tm: ThreadManager;
    Fr: WasmField;
    F1: WasmField;
    F2: WasmField;
    F12: WasmField;
    Gt: WasmField;
    G1: WasmGroup;
    G2: WasmGroup;
    pairing(a: Uint8Array, b: Uint8Array): Uint8Array;
    pairingEq(...args: Uint8Array[]): Promise<boolean>;
    prepareG1(p: Uint8Array): Uint8Array;
    prepareG2(q: Uint8Array): Uint8Array;
    millerLoop(preP: Uint8Array, preQ: Uint8Array): Uint8Array;
    finalExponentiation(a: Uint8Array): Uint8Array;
    terminate(): Promise<void>;
  }
  /** The shared multi-threaded bn128 engine (cached on globalThis.curve_bn128, which snarkjs also uses). */
  export function buildBn128(singleThread?: boolean): Promise<Bn128>;
}
