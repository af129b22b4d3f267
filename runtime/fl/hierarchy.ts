/**
 * Hierarchical aggregation: participants -> leaf aggregators -> ... -> root, each aggregator combining at
 * most `fanin` children (consecutive in id order). Below the robust level, an aggregator forwards the exact
 * partial sum of its children (wrapping i64 sums and their weight): integer partial sums compose exactly, so
 * for FedAvg and DP-FedAvg the root holds the same bytes as flat aggregation, whatever the tree. A robust
 * rule runs at one configurable level: each aggregator there applies it to its children's inputs (at level
 * 1 the participants' updates, higher up the bucket means of the partial sums below) and forwards the
 * rule's rounded mean with its weight; above that level the outputs are summed exactly again and the root
 * decodes their weighted mean. A linear strategy's root forwards its sum to the coordinator, which releases it.
 * Communication is accounted per participant and per aggregator.
 * @module
 */
import { checkInt } from '../errors.js';
import { runKernel } from '../registry.js';
import {
  decodeI64, isLinear, meanI32, ordered, stack, weightedSum, weightsOf,
  type AggregateResult, type EncodedUpdate, type Encoding, type Failure, type Strategy,
} from './strategy.js';

/** A partial aggregate as it travels up the tree. */
export interface PartialSum {
  /** Wrapping i64 weighted sums, one per coordinate. */
  sums: BigInt64Array;
  /** Total weight of the participants below. */
  weight: number;
  /** Participants below. */
  count: number;
}

/** Bytes on the wire, per round. */
export interface TreeTraffic {
  /** Levels of aggregators (1: a single root). */
  levels: number;
  /** Aggregator nodes per level, leaves first. */
  nodesPerLevel: number[];
  /** Bytes one participant sends (its encoded update: 4d, plus a 16-byte header). */
  bytesPerParticipant: number;
  /** Most bytes any one aggregator receives plus sends. */
  maxBytesPerAggregator: number;
}

/** Per-message header: sender id, round, weight, count. */
const HEADER = 16;
/** Bytes of an encoded update or a rule's rounded mean (i32), of a partial sum (i64), of the root's result (f32). */
const msgBytes = { update: (d: number) => 4 * d + HEADER, sum: (d: number) => 8 * d + HEADER, result: (d: number) => 4 * d + HEADER };

/** Aggregator nodes per level, leaves first, for n participants and fan-in `fanin`. */
export function treeShape(n: number, fanin: number): number[] {
  checkInt('treeShape', 'n', n, 1, Number.MAX_SAFE_INTEGER);
  checkInt('treeShape', 'fanin', fanin, 2, 1 << 20);
  const shape = [Math.ceil(n / fanin)];
  while (shape[shape.length - 1]! > 1) shape.push(Math.ceil(shape[shape.length - 1]! / fanin));
  return shape;
}

/** Adds partial sums (the `sum64` kernel). */
export function addPartials(children: PartialSum[], d: number): PartialSum {
  const x = new BigInt64Array(children.length * d);
  children.forEach((c, i) => x.set(c.sums, i * d));
  const [sums] = runKernel('sum64', { x }, { n: children.length, d }) as [BigInt64Array];
  return { sums, weight: children.reduce((a, c) => a + c.weight, 0), count: children.reduce((a, c) => a + c.count, 0) };
}

/**
 * A streaming sum tree: feed leaf groups in order (each at most `fanin` rows), and every aggregator adds its
 * children as soon as it has them all, so memory holds at most fanin partial sums per level. This is how an
 * aggregator tier runs at scale: nothing waits for the whole population.
 */
export class SumTree {
  private readonly pending: PartialSum[][] = [];
  private readonly nodes: number[] = [];
  private maxBytes = 0;
  private participants = 0;

  constructor(readonly d: number, readonly fanin: number) {
    checkInt('SumTree', 'd', d, 1, 2 ** 28);
    checkInt('SumTree', 'fanin', fanin, 2, 1 << 20);
  }

  /** One leaf aggregator: the weighted sum of `weights.length` stacked encoded updates (row-major in `x`). */
  addLeaf(x: Int32Array, weights: Int32Array): void {
    const k = weights.length;
    checkInt('SumTree.addLeaf', 'rows', k, 1, this.fanin);
    const [sums] = runKernel('wsum', { x, w: weights }, { n: k, d: this.d }) as [BigInt64Array];
    this.participants += k;
    this.push(0, { sums, weight: weights.reduce((a, b) => a + b, 0), count: k }, k * msgBytes.update(this.d));
  }

  private push(level: number, node: PartialSum, received: number): void {
    this.nodes[level] = (this.nodes[level] ?? 0) + 1;
    this.maxBytes = Math.max(this.maxBytes, received + msgBytes.sum(this.d));
    const q = (this.pending[level + 1] ??= []);
    q.push(node);
    if (q.length === this.fanin) this.flush(level + 1);
  }

  private flush(level: number): void {
    const q = this.pending[level]!;
    this.pending[level] = [];
    this.push(level, addPartials(q, this.d), q.length * msgBytes.sum(this.d));
  }

  /** Closes every partly filled aggregator, bottom up, and returns the root's sum and the traffic. */
  finish(): { root: PartialSum; traffic: TreeTraffic } {
    if (!this.participants) throw new RangeError('SumTree: no leaves were added');
    for (let l = 1; ; l++) {
      const q = this.pending[l] ?? [];
      const above = this.pending.slice(l + 1).some((p) => p.length);
      if (q.length === 1 && !above) {
        const traffic: TreeTraffic = { levels: this.nodes.length, nodesPerLevel: this.nodes.slice(), bytesPerParticipant: msgBytes.update(this.d), maxBytesPerAggregator: this.maxBytes };
        return { root: q[0]!, traffic };
      }
      if (q.length) this.flush(l);
    }
  }
}

/**
 * Sums encoded updates through a tree of fan-in `fanin` (>= 2) with FedAvg weights (examples) and returns
 * the root's partial sum and the traffic. Updates are taken in id order.
 */
export function aggregateTree(updates: EncodedUpdate[], d: number, fanin: number, weighting: 'samples' | 'unit' = 'samples'): { root: PartialSum; traffic: TreeTraffic } {
  checkInt('aggregateTree', 'fanin', fanin, 2, 1 << 20);
  checkInt('aggregateTree', 'd', d, 1, 2 ** 28);
  if (!updates.length) throw new RangeError('aggregateTree: no updates');
  const sorted = ordered(updates);
  const tree = new SumTree(d, fanin);
  for (let s = 0; s < sorted.length; s += fanin) {
    const group = sorted.slice(s, s + fanin);
    tree.addLeaf(stack(group, d), weightsOf(group, weighting));
  }
  return tree.finish();
}

/** Tree settings of a round. */
export interface HierarchyOptions {
  /** Most children per aggregator (>= 2). */
  fanin: number;
  /** Level whose aggregators apply a robust rule (1: the leaf aggregators; at most the tree's levels). Default 1. */
  robustLevel?: number;
}

/** A node's output on its way up: an exact partial sum, or a robust rule's rounded mean and its weight. */
type Output = ({ sum: PartialSum } | { mean: EncodedUpdate }) & { id: string; /** participants counted below */ members: string[] };

/** Aggregator ids: a<level>.<index>, e.g. a2.0007. */
export function aggregatorId(level: number, index: number): string {
  return `a${level}.${String(index).padStart(4, '0')}`;
}

/** The traffic of one flat aggregator receiving n updates and sending the decoded result. */
export function flatTraffic(n: number, d: number): TreeTraffic {
  return { levels: 1, nodesPerLevel: [1], bytesPerParticipant: msgBytes.update(d), maxBytesPerAggregator: n * msgBytes.update(d) + msgBytes.result(d) };
}

/**
 * One round through an aggregator tree. Linear strategies (FedAvg, DP-FedAvg) sum exactly all the way
 * ({@link aggregateTree}) and release at the root: byte-identical to flat. Other rules run at
 * `robustLevel` (see the module comment). Rejections by a rule above level 1 name the aggregator whose
 * bucket was dropped.
 */
export function aggregateHierarchy(strategy: Strategy, round: number, results: EncodedUpdate[], failures: Failure[], enc: Encoding, d: number, h: HierarchyOptions): AggregateResult & { traffic: TreeTraffic } {
  const fanin = checkInt('aggregateHierarchy', 'fanin', h.fanin, 2, 1 << 20);
  const rs = ordered(results);
  if (!rs.length) return { ...strategy.aggregateRound(round, [], failures, enc, d), traffic: { levels: 0, nodesPerLevel: [], bytesPerParticipant: msgBytes.update(d), maxBytesPerAggregator: 0 } };
  if (isLinear(strategy)) {
    const { root, traffic } = aggregateTree(rs, d, fanin, strategy.weighting);
    return { ...strategy.release(root.sums, root.weight, rs.map((u) => u.id), failures, enc, d), traffic };
  }
  const shape = treeShape(rs.length, fanin);
  const robustLevel = checkInt('aggregateHierarchy', 'robustLevel', h.robustLevel ?? 1, 1, shape.length);
  if (robustLevel < shape.length && !strategy.aggregateEncoded) throw new TypeError(`aggregateHierarchy: rule '${strategy.name}' cannot run below the root (no aggregateEncoded)`);
  let maxBytes = 0;
  const rejected = failures.slice();
  let outputs: Output[] = rs.map((u) => ({ id: u.id, mean: u, members: [u.id] }));
  for (let level = 1; level <= shape.length; level++) {
    const next: Output[] = [];
    for (let s = 0, k = 0; s < outputs.length; s += fanin, k++) {
      const children = outputs.slice(s, s + fanin);
      const id = aggregatorId(level, k);
      const received = children.reduce((a, c) => a + ('sum' in c ? msgBytes.sum(d) : msgBytes.update(d)), 0);
      const root = level === shape.length;
      if (level === robustLevel) {
        // Bucket means below level 1; the rule applies to those as to participants' updates.
        const inputs = children.map((c): EncodedUpdate => ('sum' in c ? { id: c.id, values: meanI32(c.sum.sums, c.sum.weight), samples: c.sum.weight } : c.mean));
        if (root) {
          const agg = strategy.aggregateRound(round, inputs, rejected, enc, d);
          maxBytes = Math.max(maxBytes, received + msgBytes.result(d));
          const kept = new Set(agg.accepted);
          return { ...agg, accepted: children.filter((c) => kept.has(c.id)).flatMap((c) => c.members), traffic: traffic(shape, d, maxBytes) };
        }
        const agg = strategy.aggregateEncoded!(round, inputs, [], d);
        rejected.push(...agg.rejected);
        maxBytes = Math.max(maxBytes, received + msgBytes.update(d));
        const kept = new Set(agg.accepted);
        const members = children.filter((c) => kept.has(c.id)).flatMap((c) => c.members);
        if (agg.weight > 0) next.push({ id, mean: { id, values: agg.values, samples: agg.weight }, members });
        continue;
      }
      // An exact sample-weighted partial sum: of updates or rule means, or of partial sums.
      const means: EncodedUpdate[] = [], sums: PartialSum[] = [];
      for (const c of children) if ('sum' in c) sums.push(c.sum); else means.push(c.mean);
      if (means.length) {
        const w = weightsOf(means, 'samples');
        sums.push({ sums: weightedSum(means, w, d), weight: w.reduce((a, b) => a + b, 0), count: means.length });
      }
      const sum = sums.length === 1 ? sums[0]! : addPartials(sums, d);
      maxBytes = Math.max(maxBytes, received + (root ? msgBytes.result(d) : msgBytes.sum(d)));
      if (root) {
        return { update: decodeI64(sum.sums, enc, sum.weight), accepted: children.flatMap((c) => c.members), rejected, traffic: traffic(shape, d, maxBytes) };
      }
      next.push({ id, sum, members: children.flatMap((c) => c.members) });
    }
    outputs = next;
    if (!outputs.length) break; // every bucket was rejected
  }
  return { update: new Float32Array(d), accepted: [], rejected, traffic: traffic(shape, d, maxBytes) };
}

function traffic(shape: number[], d: number, maxBytes: number): TreeTraffic {
  return { levels: shape.length, nodesPerLevel: shape.slice(), bytesPerParticipant: msgBytes.update(d), maxBytesPerAggregator: maxBytes };
}
