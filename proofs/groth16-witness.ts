/**
 * A lean witness calculator for circom 2 circuits compiled to Wasm (the binary `circom --wasm` writes):
 * the module is compiled and instantiated once and reused, so reading one output signal (the chunk
 * commitment) costs a witness computation, not a 3 MB Wasm compile as with snarkjs's `wtns.calculate`.
 * It speaks the same ABI as circom's generated witness_calculator.js (circom 2.x: FNV-1a 64 of the signal
 * name, 32-bit limbs through the shared read/write memory) and gives the same witness.
 * @module
 */

/** The exports of a circom 2 witness-generator module that this calculator calls. */
interface CircomExports {
  getVersion(): number;
  getFieldNumLen32(): number;
  getRawPrime(): void;
  getWitnessSize(): number;
  getInputSize(): number;
  getInputSignalSize(hMSB: number, hLSB: number): number;
  init(sanityCheck: number): void;
  readSharedRWMemory(i: number): number;
  writeSharedRWMemory(i: number, v: number): void;
  setInputSignal(hMSB: number, hLSB: number, i: number): void;
  getWitness(i: number): void;
  getMessageChar(): number;
}

/** An error raised by the circuit while computing a witness (a failed assert: the input breaks a constraint). */
export class WitnessError extends RangeError {
  override name = 'WitnessError';
}

const ERRORS: Record<number, string> = {
  1: 'signal not found',
  2: 'too many signals set',
  3: 'signal already set',
  4: 'assert failed',
  5: 'not enough memory',
  6: 'input signal array access exceeds the size',
  7: 'out of bounds array access',
};

/** FNV-1a 64 of a signal name, as circom's runtime hashes input names: [high 32 bits, low 32 bits]. */
function fnv64(name: string): [number, number] {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < name.length; i++) {
    h ^= BigInt(name.charCodeAt(i));
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return [Number(h >> 32n), Number(h & 0xffffffffn)];
}

/** A circom 2 witness calculator on one instance of the circuit's Wasm. Not re-entrant (synchronous calls only). */
export class WitnessCalculator {
  /** The field modulus the circuit was compiled for. */
  readonly prime: bigint;
  /** Number of witness values (1, outputs, public inputs, private signals...). */
  readonly witnessSize: number;
  private readonly n32: number;
  private readonly exports: CircomExports;
  private messages = '';

  private constructor(instance: WebAssembly.Instance) {
    this.exports = instance.exports as unknown as CircomExports;
    this.n32 = this.exports.getFieldNumLen32();
    this.exports.getRawPrime();
    this.prime = this.readShared();
    this.witnessSize = this.exports.getWitnessSize();
  }

  /**
   * Compiles and instantiates a circuit's witness-generator Wasm.
   * @throws Error when the bytes are not a circom 2 witness generator.
   */
  static async create(wasm: Uint8Array | WebAssembly.Module): Promise<WitnessCalculator> {
    const module = wasm instanceof WebAssembly.Module ? wasm : await WebAssembly.compile(wasm as Uint8Array<ArrayBuffer>);
    let calc: WitnessCalculator | undefined;
    let instance: WebAssembly.Instance | undefined;
    const getMessage = () => {
      let s = '';
      const ex = instance!.exports as unknown as CircomExports;
      for (let c = ex.getMessageChar(); c !== 0; c = ex.getMessageChar()) s += String.fromCharCode(c);
      return s;
    };
    instance = await WebAssembly.instantiate(module, {
      runtime: {
        exceptionHandler: (code: number) => {
          const detail = calc ? calc.messages.trim() : '';
          throw new WitnessError(`witness: ${ERRORS[code] ?? `error ${code}`}${detail ? ` (${detail.replace(/\n/g, '; ')})` : ''}`);
        },
        printErrorMessage: () => { if (calc) calc.messages += getMessage() + '\n'; },
        writeBufferMessage: () => { getMessage(); }, // circuit log() output: dropped
        showSharedRWMemory: () => undefined,
      },
    });
    if (typeof (instance.exports as Partial<CircomExports>).getWitness !== 'function') throw new Error('witness: not a circom 2 witness generator');
    calc = new WitnessCalculator(instance);
    if (calc.exports.getVersion() < 2) throw new Error(`witness: circom ${calc.exports.getVersion()} binaries are not supported`);
    return calc;
  }

  private readShared(): bigint {
    let v = 0n;
    for (let j = this.n32 - 1; j >= 0; j--) v = (v << 32n) | BigInt(this.exports.readSharedRWMemory(j) >>> 0);
    return v;
  }

  private writeShared(v: bigint): void {
    for (let j = 0; j < this.n32; j++) {
      this.exports.writeSharedRWMemory(j, Number(v & 0xffffffffn));
      v >>= 32n;
    }
  }

  /**
   * Sets every input signal and runs the circuit. `inputs` maps each input signal name to its values (field
   * elements as bigints, reduced mod the prime; negative integers map to p - |v|), flattened row-major.
   * @throws WitnessError when the circuit rejects the input (a failed assert names the template and line);
   *   RangeError when a signal is missing, unknown or has the wrong number of values.
   */
  private run(inputs: Record<string, readonly bigint[]>): void {
    this.messages = '';
    this.exports.init(0);
    let count = 0;
    for (const [name, values] of Object.entries(inputs)) {
      const [hi, lo] = fnv64(name);
      const size = this.exports.getInputSignalSize(hi, lo);
      if (size < 0) throw new RangeError(`witness: the circuit has no input signal '${name}'`);
      if (values.length !== size) throw new RangeError(`witness: input signal '${name}' takes ${size} values, got ${values.length}`);
      for (let i = 0; i < values.length; i++) {
        const v = ((values[i]! % this.prime) + this.prime) % this.prime;
        this.writeShared(v);
        this.exports.setInputSignal(hi, lo, i);
        count++;
      }
    }
    if (count < this.exports.getInputSize()) throw new RangeError(`witness: only ${count} of ${this.exports.getInputSize()} inputs set`);
  }

  /**
   * Computes the witness and returns the values at `indices` (1 is the first output signal).
   * @throws WitnessError when the circuit rejects the input; RangeError when a signal is missing, unknown or
   *   has the wrong number of values, or an index is outside the witness.
   */
  signals(inputs: Record<string, readonly bigint[]>, indices: readonly number[]): bigint[] {
    this.run(inputs);
    return indices.map((i) => {
      if (!Number.isInteger(i) || i < 0 || i >= this.witnessSize) throw new RangeError(`witness: index ${i} outside [0, ${this.witnessSize})`);
      this.exports.getWitness(i);
      return this.readShared();
    });
  }

  /** Computes the whole witness (index 0 is the constant 1). */
  witness(inputs: Record<string, readonly bigint[]>): bigint[] {
    this.run(inputs);
    const w: bigint[] = [];
    for (let i = 0; i < this.witnessSize; i++) {
      this.exports.getWitness(i);
      w.push(this.readShared());
    }
    return w;
  }
}
