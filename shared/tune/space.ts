import { Ajv } from "ajv";
import { stringify } from "yaml";
import { RecshipError } from "../errors.js";
import {
  DEFAULT_CONFIG,
  loadConfig,
  MODEL_CONFIG_PROPERTIES,
  TRAIN_CONFIG_PROPERTIES,
  type ConfigOverrides,
  type RecshipConfig,
} from "../model/config.js";
import { readYamlDocument } from "../util/yaml-document.js";

/** One searched setting: a list of choices, or an int/float range (optionally on a log scale). */
export type ParamSpace =
  | { key: string; kind: "choices"; choices: (string | number | boolean)[] }
  | { key: string; kind: "int" | "float"; low: number; high: number; log: boolean };

export interface SearchSpace {
  /** The searched settings, in the file's order (`model.hidden`, `train.learningRate`, ...). */
  params: ParamSpace[];
  /** Settings every trial shares (train-model's config sections); the default configuration is exactly this. */
  base: ConfigOverrides;
  where: string;
}

/** A value for each searched setting. */
export type ParamValues = Record<string, string | number | boolean>;

/**
 * The search space a user can start from (README "tune-model"): the settings that matter most
 * for SASRec on shop data, in ranges that train on a CPU runner. The default configuration
 * (train-model's defaults: hidden 64, 2 blocks, 1 head, dropout 0.5, learning rate 0.003, 1024
 * batch tokens, the plateau schedule; full-catalogue CE, so no negatives to search) lies inside
 * it and is always one trial of the search. The schedule is searched because a cosine one,
 * annealed over the search's epochs, lifted a fast configuration on Beauty (README "tune-model
 * on Amazon Beauty") but slowed the default's lower rate.
 */
export const DEFAULT_SPACE_YAML = `# recship tune-model search space: each key under space: is a train-model config setting
# (model.* or train.*), searched as choices, an int range or a float range (log: true samples
# the range on a log scale). config: holds settings every trial shares; the default
# configuration (config: alone) is always one trial of the search.
space:
  train.learningRate: { float: [0.001, 0.01], log: true }
  model.dropout: { float: [0.2, 0.6] }
  model.hidden: { choices: [64, 128] }
  model.blocks: { choices: [1, 2, 3] }
  model.heads: { choices: [1, 2] }
  train.batchTokens: { choices: [512, 1024, 2048] }
  train.lrSchedule: { choices: [plateau, cosine] }
# config:
#   model:
#     maxlen: 50
`;

const range = { type: "array", items: { type: "number" }, minItems: 2, maxItems: 2 } as const;
const paramSchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    choices: { type: "array", minItems: 1, items: { type: ["string", "number", "boolean"] } },
    int: { ...range, items: { type: "integer" } },
    float: range,
    log: { type: "boolean" },
  },
} as const;
const spaceSchema = {
  type: "object",
  additionalProperties: false,
  required: ["space"],
  properties: {
    space: { type: "object", minProperties: 1, additionalProperties: paramSchema },
    config: { type: "object" },
  },
} as const;
const validateSpace = new Ajv({ allErrors: true, allowUnionTypes: true }).compile(spaceSchema);

/** The frequency filter's own settings, searched one by one (`model.frequencyFilter.alpha`); the filter as a whole is not a scalar. */
const FILTER_PREFIX = "model.frequencyFilter.";
const KNOWN_KEYS = new Set([
  ...Object.keys(MODEL_CONFIG_PROPERTIES)
    .filter((k) => k !== "kind" && k !== "frequencyFilter")
    .map((k) => `model.${k}`),
  ...Object.keys(MODEL_CONFIG_PROPERTIES.frequencyFilter.properties).map((k) => `${FILTER_PREFIX}${k}`),
  ...Object.keys(TRAIN_CONFIG_PROPERTIES)
    .filter((k) => k !== "epochs" && k !== "seed" && k !== "validationUsers" && k !== "selectBy")
    .map((k) => `train.${k}`),
]);
const SPACE_FIX = "see README.md, section tune-model (search space), or start from actions/tune-model/space.example.yml";

function paramOf(key: string, raw: Record<string, unknown>, where: string): ParamSpace {
  const fail = (what: string) => new RecshipError(`invalid search space: ${key}: ${what}`, { where, fix: SPACE_FIX });
  if (!KNOWN_KEYS.has(key)) throw fail(`not a searchable setting (one of ${[...KNOWN_KEYS].join(", ")})`);
  const kinds = (["choices", "int", "float"] as const).filter((k) => raw[k] !== undefined);
  if (kinds.length !== 1) throw fail("give exactly one of choices, int or float");
  const kind = kinds[0];
  if (kind === "choices") {
    if (raw.log !== undefined) throw fail("log applies to int and float ranges only");
    return { key, kind, choices: raw.choices as (string | number | boolean)[] };
  }
  const [low, high] = raw[kind] as number[];
  const log = raw.log === true;
  if (!(low <= high)) throw fail(`the range's low end (${low}) is above its high end (${high})`);
  if (log && !(low > 0)) throw fail("a log range must be above 0");
  return { key, kind, low, high, log };
}

/** Reads a search space (inline YAML or a file; the default space when empty) and checks every trial it can make. */
export function loadSearchSpace(source: string | undefined): SearchSpace {
  const text = source && source.trim() !== "" ? source : DEFAULT_SPACE_YAML;
  const { raw, where } = readYamlDocument(text, {
    noun: "search space",
    verb: "is",
    fileNoun: "search space file",
    inlineWhere: source ? "inline search space" : "the default search space",
    notMapping: { message: "the search space must be a mapping with a `space:` section", fix: DEFAULT_SPACE_YAML },
    fix: SPACE_FIX,
    validate: validateSpace,
  });
  const space = raw.space as Record<string, Record<string, unknown>>;
  const params = Object.entries(space).map(([key, value]) => paramOf(key, value, where));
  const base = (raw.config ?? {}) as ConfigOverrides;
  const filterKey = params.find((p) => p.key.startsWith(FILTER_PREFIX))?.key;
  if (filterKey && (base.model?.frequencyFilter as unknown) === null) {
    throw new RecshipError(
      `invalid search space: ${filterKey} is searched, but config: turns the filter off (model.frequencyFilter: null)`,
      {
        where,
        fix: "drop model.frequencyFilter: null from config:, or stop searching the filter's settings",
      },
    );
  }
  // the shared settings through train-model's own checks (unknown keys, ranges)
  loadConfig(configYaml(base));
  return { params, base, where };
}

/** The settings of one trial: the shared ones with the trial's values over them. */
export function trialOverrides(space: SearchSpace, values: ParamValues): ConfigOverrides {
  const model: Record<string, unknown> = { ...space.base.model };
  const train: Record<string, unknown> = { ...space.base.train };
  for (const [key, value] of Object.entries(values)) {
    if (key.startsWith(FILTER_PREFIX)) {
      // one field of the filter: the other from the shared settings or train-model's default filter
      const filter = (model.frequencyFilter ?? DEFAULT_CONFIG.model.frequencyFilter) as object;
      model.frequencyFilter = { ...filter, [key.slice(FILTER_PREFIX.length)]: value };
      continue;
    }
    const [section, name] = key.split(".");
    (section === "model" ? model : train)[name] = value;
  }
  return {
    ...(Object.keys(model).length ? { model: model as ConfigOverrides["model"] } : {}),
    ...(Object.keys(train).length ? { train: train as ConfigOverrides["train"] } : {}),
  };
}

/** A config as train-model's `config` input takes it (YAML with `model:` and `train:`). */
export function configYaml(overrides: ConfigOverrides): string {
  return Object.keys(overrides).length === 0 ? "" : stringify(overrides);
}

/** A trial's full config (train-model's defaults under it), checked as train-model checks it. */
export function trialConfig(overrides: ConfigOverrides, where: string): RecshipConfig {
  try {
    return loadConfig(configYaml(overrides));
  } catch (error) {
    throw new RecshipError(`a trial of the search space has an invalid config: ${(error as Error).message}`, { where, fix: SPACE_FIX });
  }
}
