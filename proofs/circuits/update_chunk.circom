pragma circom 2.1.0;

// One chunk of a fixed-point model update: n signed integers x[i] in [-2^(bits-1), 2^(bits-1)), whose sum of
// squares is at most the public bound B, committed to by c = Poseidon(packed chunk). The public input
// `bind` ties a proof to one (task, round, sender, chunk) of the federated flow (see proofs/groth16.ts,
// bindingOf), so that a proof cannot be replayed for another envelope.
//
// Public signals, in this order: c (output), B, bind.
//
// Arithmetic (BN254 scalar field, p ~ 2^253.6): each x[i] is a field element; x[i] + 2^(bits-1) is
// range-checked to `bits` bits, so as an integer |x[i]| <= 2^(bits-1) and x[i]^2 <= 2^(2*bits-2). The sum of n
// squares is below n * 2^(2*bits-2) + 1 <= 2^(2*bits-2+log2ceil(n)) (2^68 for bits = 32, n = 64): it never
// wraps the field. The bound check proves B - S in [0, 2^K) with K = 2*bits + log2ceil(n), i.e. S <= B as
// integers, for any public B in [0, 2^K) (the verifier's side rejects larger B).
//
// Packing for the commitment: u[i] = x[i] + 2^(bits-1) (an unsigned `bits`-bit integer); `per` = floor(252 /
// bits) values per field element, little-endian: e[k] = sum_j u[per*k + j] * 2^(bits*j) (7 values of 32 bits
// per element, 224 bits); the last element holds the remainder. c = Poseidon(e[0], ..., e[m-1]) with circomlib's
// Poseidon of m = ceil(n / per) inputs (m <= 16, so n <= 16 * per: 112 values for bits = 32).

include "circomlib/circuits/poseidon.circom";
include "circomlib/circuits/bitify.circom";

function log2ceil(n) {
    var r = 0;
    while ((1 << r) < n) r++;
    return r;
}

template UpdateChunk(n, bits) {
    assert(n >= 1);
    assert(bits >= 2 && bits <= 64);
    var per = 252 \ bits;
    var m = (n + per - 1) \ per;
    assert(m <= 16);
    var K = 2 * bits + log2ceil(n);

    signal input x[n];
    signal input B;
    signal input bind;
    signal output c;

    // Range: x[i] + 2^(bits-1) in [0, 2^bits).
    component range[n];
    signal u[n];
    for (var i = 0; i < n; i++) {
        u[i] <== x[i] + (1 << (bits - 1));
        range[i] = Num2Bits(bits);
        range[i].in <== u[i];
    }

    // Sum of squares, exact over the integers (no wrap, see above).
    signal sq[n];
    var sum = 0;
    for (var i = 0; i < n; i++) {
        sq[i] <== x[i] * x[i];
        sum += sq[i];
    }

    // S <= B: B - S in [0, 2^K).
    component slack = Num2Bits(K);
    slack.in <== B - sum;

    // Commitment: pack `per` unsigned values per field element, hash with Poseidon(m).
    component hash = Poseidon(m);
    for (var k = 0; k < m; k++) {
        var e = 0;
        for (var j = 0; j < per && per * k + j < n; j++) {
            e += u[per * k + j] * (1 << (bits * j));
        }
        hash.inputs[k] <== e;
    }
    c <== hash.out;

    // `bind` takes part in a constraint so that it is a real public input (not optimised away).
    signal bindSq;
    bindSq <== bind * bind;
}
