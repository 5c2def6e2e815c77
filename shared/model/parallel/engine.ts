import type { Scorer } from "../../eval/evaluator.js";
import type { Logger } from "../../log.js";
import type { BackendPreference } from "../backend.js";
import type { SasrecConfig, TrainConfig } from "../config.js";
import { flatLayout, packInto, unpack, type AdamSettings, type FlatLayout } from "../flat-params.js";
import { disposeDistill, prepareDistill, type DistillSetup } from "../distill-objective.js";
import { SasrecModel } from "../sasrec-model.js";
import { isLearned, paramSpecs, type ParamSpec } from "../sasrec.js";
import { loadFlat, loadTable, sliceGradients, type StepContext, type StepInput } from "./gradients.js";
import { applyUpdate, updatePlan } from "./update-plan.js";

/** Adam's state besides the weights: the step count and the two moment vectors (flat layout). */
export interface OptimizerState {
  steps: number;
  m: Float32Array;
  v: Float32Array;
}

/**
 * Where training steps run: on the calling thread, or data-parallel over worker threads. Either
 * way a step is: the global batch's loss gradient, one Adam update of the flat parameter
 * vector, every copy of the model set to the result. It also scores histories for evaluation.
 */
export interface TrainingEngine extends Scorer {
  /** Worker threads (0: the calling thread). */
  readonly workers: number;
  readonly layout: FlatLayout;
  /**
   * Runs one step on a global batch; returns its loss (mean over its target positions). Steps
   * run in the order called: a caller may send the next before awaiting this one (so workers
   * never wait for this thread), but must await every step before reading values().
   */
  step(input: StepInput): Promise<number>;
  /** Every parameter's current values (learned and fixed), copies. */
  values(): Map<string, Float32Array>;
  optimizerState(): OptimizerState;
  /** Sets the weights and the optimizer state (a resumed checkpoint). */
  restore(values: Map<string, Float32Array>, state: OptimizerState): Promise<void>;
  /** Adam's learning rate for the steps sent from now on (a schedule's decay). */
  setLearningRate(learningRate: number): void;
  close(): Promise<void>;
}

export interface EngineOptions {
  /** Worker threads; 0 trains on the calling thread. */
  workers: number;
  model: SasrecConfig;
  train: TrainConfig;
  numItems: number;
  /** Every parameter's starting values. */
  values: Map<string, Float32Array>;
  adam: AdamSettings;
  /** Which parameters the optimizer moves (default: every learned one). */
  learned?: (spec: ParamSpec) => boolean;
  backend: BackendPreference;
  /** Steps are a distillation's (StepInput kind "distill"): the teacher's fixed data. */
  distill?: DistillSetup;
  log: Logger;
}

/** The flat layout of what the optimizer moves. */
export function engineLayout(options: EngineOptions): FlatLayout {
  return flatLayout(paramSpecs(options.model, options.numItems), options.learned ?? isLearned);
}

/** The parameters the optimizer leaves alone, by name. */
export function fixedValues(layout: FlatLayout, values: Map<string, Float32Array>): Map<string, Float32Array> {
  const moved = new Set(layout.entries.map((e) => e.name));
  return new Map([...values].filter(([name]) => !moved.has(name)));
}

/**
 * Feeds an engine with one step queued behind the running one, so worker threads go from one
 * step to the next without a round trip through the calling thread; each step's loss reaches
 * `onLoss` in order, one step late.
 */
export class StepPipeline<T> {
  private readonly inFlight: { loss: Promise<number>; tag: T }[] = [];

  constructor(
    private readonly engine: TrainingEngine,
    private readonly onLoss: (loss: number, tag: T) => void,
  ) {}

  async push(input: StepInput, tag: T): Promise<void> {
    const loss = this.engine.step(input);
    loss.catch(() => undefined); // awaited below; a failure is reported there, not as unhandled
    this.inFlight.push({ loss, tag });
    if (this.inFlight.length > 1) await this.settle();
  }

  /** Waits for every step sent; then the engine's values are this pipeline's result. */
  async drain(): Promise<void> {
    while (this.inFlight.length > 0) await this.settle();
  }

  /** After a failure: waits until nothing sent is still running. */
  async abandon(): Promise<void> {
    await Promise.allSettled(this.inFlight.splice(0).map((f) => f.loss));
  }

  private async settle(): Promise<void> {
    const { loss, tag } = this.inFlight.shift()!;
    this.onLoss(await loss, tag);
  }
}

/** One model on the calling thread's tfjs backend (GPU backends, one-core runners, tests). */
export class LocalEngine implements TrainingEngine {
  readonly workers = 0;
  readonly layout: FlatLayout;
  readonly numItems: number;
  private readonly ctx: StepContext;
  private readonly model: SasrecModel;
  private readonly weights: Float32Array;
  private readonly grad: Float32Array;
  private state: OptimizerState;
  private readonly fixed: Map<string, Float32Array>;
  private adam: AdamSettings;

  constructor(private readonly options: EngineOptions) {
    this.adam = options.adam;
    const layout = engineLayout(options);
    const distill = options.distill ? prepareDistill(options.distill, options.model.hidden) : undefined;
    this.ctx = { model: options.model, train: options.train, numItems: options.numItems, layout, distill };
    this.fixed = fixedValues(layout, options.values);
    this.layout = this.ctx.layout;
    this.numItems = options.numItems;
    this.model = new SasrecModel(options.model, options.numItems, options.values);
    this.weights = new Float32Array(this.layout.total);
    packInto(this.layout, options.values, this.weights);
    this.grad = new Float32Array(this.layout.total);
    this.state = { steps: 0, m: new Float32Array(this.layout.total), v: new Float32Array(this.layout.total) };
  }

  private queue: Promise<unknown> = Promise.resolve();

  /** Steps run one after another, even when the caller sends the next before awaiting this one. */
  step(input: StepInput): Promise<number> {
    const done = this.queue.then(() => this.runStep(input));
    this.queue = done.catch(() => undefined);
    return done;
  }

  /** The model's table variable lags the flat weights (lazy steps leave it alone). */
  private tableStale = false;

  private syncTable(): void {
    if (this.tableStale) loadTable(this.model, this.layout, this.weights);
    this.tableStale = false;
  }

  private async runStep(input: StepInput): Promise<number> {
    const plan = updatePlan(this.options.train, this.layout, input);
    if (!plan.table) this.syncTable();
    const lazy = plan.table ? { rows: plan.table.rows, weights: this.weights } : undefined;
    const loss = await sliceGradients(this.model.params, this.ctx, input, this.grad, lazy);
    this.state.steps++;
    applyUpdate(this.adam, this.state.steps, plan, { index: 0, count: 1 }, { weights: this.weights, ...this.state }, [this.grad]);
    loadFlat(this.model, this.layout, this.weights, lazy ? "item_emb" : undefined);
    this.tableStale = lazy !== undefined;
    return loss;
  }

  score(histories: Int32Array[]): Promise<Float32Array> {
    this.syncTable();
    return this.model.scoreAsync(histories);
  }

  setLearningRate(learningRate: number): void {
    this.adam = { ...this.options.adam, learningRate };
  }

  /** From the flat vector this engine updates: no read back from the device. */
  values(): Map<string, Float32Array> {
    return new Map([...this.fixed, ...unpack(this.layout, this.weights)]);
  }

  optimizerState(): OptimizerState {
    return { steps: this.state.steps, m: this.state.m.slice(), v: this.state.v.slice() };
  }

  async restore(values: Map<string, Float32Array>, state: OptimizerState): Promise<void> {
    this.model.assign(values);
    this.tableStale = false;
    packInto(this.layout, values, this.weights);
    this.state = { steps: state.steps, m: state.m.slice(), v: state.v.slice() };
  }

  async close(): Promise<void> {
    this.model.dispose();
    if (this.ctx.distill) disposeDistill(this.ctx.distill);
  }
}
