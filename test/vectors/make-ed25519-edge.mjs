#!/usr/bin/env node
// Writes test/vectors/ed25519-edge.json: Ed25519 edge cases (after Chalkias et al., "Taming the many EdDSAs",
// 2020) built with @noble/curves point arithmetic, each with meshwork's verdict under its rule (proofs/ed25519.ts):
// canonical A, R and S, no small-order A or R, cofactorless equation. Deterministic: re-running writes the
// same file.
import { writeFileSync } from 'node:fs';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { bytesToNumberLE as fromLe, numberToBytesLE } from '@noble/curves/utils.js';

const P = ed25519.Point;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (h) => Uint8Array.from(Buffer.from(h, 'hex'));
const le = (x) => numberToBytesLE(x, 32);
const cat = (...p) => { const o = new Uint8Array(p.reduce((n, x) => n + x.length, 0)); let k = 0; for (const x of p) { o.set(x, k); k += x.length; } return o; };
const enc = (s) => new TextEncoder().encode(s);
const kOf = (R, A, M) => fromLe(sha512(cat(R, A, M))) % L;
const mod = (x) => ((x % L) + L) % L;

const seed = sha512(enc('meshwork ed25519 edge cases')).slice(0, 32);
const { scalar: a, pointBytes: Abytes } = ed25519.utils.getExtendedPublicKey(seed);
const A = P.fromBytes(Abytes);
const r = mod(fromLe(sha512(enc('nonce'))));
const T8 = P.fromBytes(unhex('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05'));
const cases = [];
const add = (name, pub, msg, sig, verdict, reason, note) => cases.push({ name, publicKey: hex(pub), message: hex(msg), signature: hex(sig), verdict, reason: reason ?? null, note });

// 1. A valid signature.
const M = enc('meshwork edge case');
const good = ed25519.sign(M, seed);
add('valid', Abytes, M, good, 'accept', null, 'RFC 8032 signature');
// 2-3. Non-canonical S.
const S = fromLe(good.slice(32));
add('S + L', Abytes, M, cat(good.slice(0, 32), le(S + L)), 'reject', 'non-canonical-s', 'same equation mod L, S >= L');
add('S = L', Abytes, M, cat(good.slice(0, 32), le(L)), 'reject', 'non-canonical-s', 'S equal to the group order');
// 4. Identity public key: R = [S]B verifies for every message under a cofactorless check.
{
  const s = 12345n, R = P.BASE.multiply(s).toBytes();
  add('small-order A (identity), any message', P.ZERO.toBytes(), M, cat(R, le(s)), 'reject', 'small-order-key', 'R = [S]B passes [S]B = R + [k]A for A = 0');
}
// 5. Order-8 public key with 8 | k: the same forgery.
{
  const s = 777n, R = P.BASE.multiply(s).toBytes(), Ab = T8.toBytes();
  let i = 0, m;
  do m = enc(`order-8 key ${i++}`); while (kOf(R, Ab, m) % 8n !== 0n);
  add('small-order A (order 8), 8 | k', Ab, m, cat(R, le(s)), 'reject', 'small-order-key', 'forged for a key of order 8');
}
// 6. R = identity, S = k*a: [S]B - [k]A = 0 = R.
{
  const R = P.ZERO.toBytes(), k = kOf(R, Abytes, M);
  add('small-order R (identity)', Abytes, M, cat(R, le(mod(k * a))), 'reject', 'small-order-r', 'cofactorless equation holds with R = 0');
}
// 7. R = [r]B + T8: cofactored verifiers accept, cofactorless reject.
{
  const R = P.BASE.multiply(r).add(T8).toBytes(), k = kOf(R, Abytes, M);
  add('mixed-order R', Abytes, M, cat(R, le(mod(r + k * a))), 'reject', 'bad-signature', 'R has a torsion component: cofactored equation holds, cofactorless does not');
}
// 8-9. A' = [a]B + T8 (mixed order).
{
  const A2 = A.add(T8).toBytes(), R = P.BASE.multiply(r).toBytes();
  let i = 0, m;
  do m = enc(`mixed key ${i++}`); while (kOf(R, A2, m) % 8n !== 0n);
  add('mixed-order A, 8 | k', A2, m, cat(R, le(mod(r + kOf(R, A2, m) * a))), 'accept', null, '[k]T8 = 0: both equations hold');
  do m = enc(`mixed key ${i++}`); while (kOf(R, A2, m) % 8n === 0n);
  add('mixed-order A, 8 does not divide k', A2, m, cat(R, le(mod(r + kOf(R, A2, m) * a))), 'reject', 'bad-signature', 'cofactored equation holds, cofactorless does not');
}
// 10. Non-canonical encoding of the identity as A (y = p + 1): decoders that reduce y accept a forgery.
{
  const s = 4242n, R = P.BASE.multiply(s).toBytes();
  add('non-canonical A (y = p + 1)', unhex('eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'), M, cat(R, le(s)), 'reject', 'non-canonical-key', 'y >= p');
  add('non-canonical A (x = 0, sign bit)', unhex('0100000000000000000000000000000000000000000000000000000000000080'), M, cat(R, le(s)), 'reject', 'non-canonical-key', 'identity with the sign bit set');
}
// 11-12. Non-canonical R encodings of the identity with S = k*a.
for (const [name, Rh] of [['non-canonical R (y = p + 1)', 'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'], ['non-canonical R (x = 0, sign bit)', '0100000000000000000000000000000000000000000000000000000000000080']]) {
  const R = unhex(Rh), k = kOf(R, Abytes, M);
  add(name, Abytes, M, cat(R, le(mod(k * a))), 'reject', 'non-canonical-r', 'R decodes (leniently) to the identity');
}
// 13. A public key that is not a curve point.
{
  let y = 2n, bytes;
  for (;; y++) { bytes = le(y); try { P.fromBytes(bytes); } catch { break; } }
  add(`A not on the curve (y = ${y})`, bytes, M, good, 'reject', null, 'no x for this y (noble: invalid-key at decoding; native: bad-signature)');
}
// 14-16. Mutations of the valid case.
const flip = (b, i) => { const c = b.slice(); c[i] ^= 1; return c; };
add('message bit flipped', Abytes, flip(M, 0), good, 'reject', 'bad-signature', 'mutated message');
add('R bit flipped', Abytes, M, flip(good, 3), 'reject', null, 'mutated R (may not decode)');
add('S bit flipped', Abytes, M, flip(good, 40), 'reject', 'bad-signature', 'mutated S');
add('public key bit flipped', flip(Abytes, 5), M, good, 'reject', null, 'mutated key (may not decode)');

writeFileSync(new URL('./ed25519-edge.json', import.meta.url), JSON.stringify({ source: 'test/vectors/make-ed25519-edge.mjs', rule: 'canonical A, R, S; A and R not small-order; cofactorless [S]B = R + [k]A', cases }, null, 1) + '\n');
console.log(`wrote ${cases.length} cases`);
