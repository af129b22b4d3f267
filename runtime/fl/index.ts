/**
 * The federated-learning core, host-agnostic: data and shards, the model, strategies, privacy, attacks,
 * the aggregator tree and the round loop.
 * @module
 */
export { parseCsvDataset, parseDigits, DIGITS, subset, trainTestSplit, shardIid, shardDirichlet, type Dataset } from './data.js';
export { Mlp, trainSgd, type SgdOptions, type ParamSpec, type BatchGrad } from './model.js';
export { Rng, STREAMS } from './rng.js';
export { toSafetensors, fromSafetensors, paramsFromSafetensors, type SafetensorsFile } from './safetensors.js';
export {
  FedAvg, Median, TrimmedMean, MultiKrum, CenteredClip, RULES, strategyByName, bitsFor, encodeUpdate, isLinear, weightedEvaluate,
  type EvaluateResult, type EvaluateAggregate,
  type Strategy, type LinearStrategy, type EncodedUpdate, type EncodedAggregate, type Encoding, type Failure, type AggregateResult, type RuleName,
} from './strategy.js';
export { ATTACKS, attackByName, type Attack, type AttackParams } from './attacks.js';
export { RdpAccountant, epsilonFromRdp, noiseMultiplierFor, DEFAULT_ORDERS } from './accountant.js';
export { DpFedAvg, discreteGaussian, type DpOptions } from './dp.js';
export { aggregateTree, aggregateHierarchy, SumTree, treeShape, type PartialSum, type TreeTraffic, type HierarchyOptions } from './hierarchy.js';
export { runLocalJob, type LocalJob } from './local.js';
export { simulate, simulateWith, detect, serverStep, participantId, paramsSha256, DEFAULTS as SIMULATION_DEFAULTS, type SimulationOptions, type SimulationResult, type RoundRow, type LocalTrainer } from './simulate.js';
export { learningCurveSvg } from './plot.js';
export {
  DEFAULT_TASK, parseTaskSpec, taskEncoding, taskDimension, taskSplit, encodeUpdatePayload, decodeUpdatePayload, localJob, encodeForSubmit, trainAndEncode,
  PayloadError, UPDATE_PAYLOAD_HEADER, UPDATE_PROOF_BYTES, proofChunks, proofBound, type UpdateProof, type TaskSpec, type TaskData, type UpdatePayload, type JoinRequest, type RoundInfo,
  type Status, type StatusRow, type StatusParticipant, type StatusRejection, type CoordinatorEvent, type AggregatorTier, type RoundAggregator,
} from './protocol.js';
export { encodePartialPayload, decodePartialPayload, partialBytes, packEnvelopes, unpackEnvelopes, type PartialPayload } from './partial.js';
