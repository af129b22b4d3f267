/**
 * The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header length,
 * a JSON header {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__: {string: string}}, then
 * the raw little-endian tensor bytes. PyTorch (`safetensors.torch.load_file`) and numpy read what this
 * writes; meshwork reads F32 tensors they write. Written here because the format is a few lines and the
 * npm packages for it are not maintained; only F32 is supported.
 * @module
 */
import type { ParamSpec } from './model.js';

/** Serialises a flat parameter vector by its layout (tensors in layout order, header padded to 8 bytes). */
export function toSafetensors(params: Float32Array, layout: ParamSpec[], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let off = 0;
  for (const p of layout) {
    if (p.offset + p.length > params.length) throw new RangeError(`toSafetensors: tensor ${p.name} lies outside params`);
    header[p.name] = { dtype: 'F32', shape: p.shape, data_offsets: [off, off + 4 * p.length] };
    off += 4 * p.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + new TextEncoder().encode(json).length) % 8)) % 8);
  const hb = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hb.length + off);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  let pos = 8 + hb.length;
  for (const p of layout) {
    for (let i = 0; i < p.length; i++, pos += 4) view.setFloat32(pos, params[p.offset + i]!, true);
  }
  return out;
}

/** A parsed safetensors file: F32 tensors by name, and the metadata. */
export interface SafetensorsFile {
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
  metadata: Record<string, string>;
}

/** Parses a safetensors file (F32 tensors only). @throws RangeError for a malformed file, naming what is wrong. */
export function fromSafetensors(bytes: Uint8Array): SafetensorsFile {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('fromSafetensors: bytes must be a Uint8Array');
  if (bytes.length < 8) throw new RangeError('fromSafetensors: shorter than the 8-byte header length');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = Number(view.getBigUint64(0, true));
  if (hlen > bytes.length - 8) throw new RangeError(`fromSafetensors: header length ${hlen} exceeds the file`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + hlen)));
  } catch (e) {
    throw new RangeError(`fromSafetensors: header is not JSON (${(e as Error).message})`);
  }
  const base = 8 + hlen;
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  let metadata: Record<string, string> = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') { metadata = info as Record<string, string>; continue; }
    const t = info as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (t.dtype !== 'F32') throw new RangeError(`fromSafetensors: tensor ${name} has dtype ${t.dtype}; only F32 is supported`);
    const [b, e] = t.data_offsets;
    const count = t.shape.reduce((a, s) => a * s, 1);
    if (!(b >= 0 && e >= b && base + e <= bytes.length) || e - b !== 4 * count) throw new RangeError(`fromSafetensors: tensor ${name} has bad data_offsets [${b}, ${e}] for shape [${t.shape}]`);
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = view.getFloat32(base + b + 4 * i, true);
    tensors.set(name, { shape: t.shape, data });
  }
  return { tensors, metadata };
}

/** Fills a flat parameter vector from a parsed file by layout. @throws RangeError for a missing tensor or a shape mismatch. */
export function paramsFromSafetensors(file: SafetensorsFile, layout: ParamSpec[], size: number): Float32Array {
  const out = new Float32Array(size);
  for (const p of layout) {
    const t = file.tensors.get(p.name);
    if (!t) throw new RangeError(`paramsFromSafetensors: tensor ${p.name} is missing`);
    if (t.shape.length !== p.shape.length || t.shape.some((s, i) => s !== p.shape[i])) throw new RangeError(`paramsFromSafetensors: tensor ${p.name} has shape [${t.shape}], expected [${p.shape}]`);
    out.set(t.data, p.offset);
  }
  return out;
}
