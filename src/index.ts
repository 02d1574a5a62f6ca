/**
 * The public API that model files import. A model file default-exports `defineModel({...})`.
 */
export { defineModel, invariant, atQuiescence, onStep, eventually, leadsTo, alwaysEventually, isLiveness, isModel, anyModel, DEADLOCK_PROPERTY } from './core/model.ts';
export type {
  Model,
  AnyModel,
  ModelDefinition,
  Transition,
  SchemaTransition,
  ImmutableTransition,
  AnyTransition,
  Check,
  Property,
  InvariantProperty,
  FinalProperty,
  StepProperty,
  EventuallyProperty,
  LeadsToProperty,
  AlwaysEventuallyProperty,
  LivenessProperty,
  Fairness,
  Expectation,
  ExpectationBounds,
  Symmetry,
} from './core/model.ts';
export { int, bool, oneOf } from './core/params.ts';
export { t, universe, Universe, MemberSet } from './core/schema.ts';
export type { StateOf, Draft, ReadonlyMemberSet, Type, StructType, ValueOf, DraftOf } from './core/schema.ts';
export type { ParamSpec, ParamSpecs, ParamValues, AnyParams } from './core/params.ts';
export { ModelError, UsageError } from './core/errors.ts';
export type { Outcome, PropertyResult, Trace, TraceStep, Violation, Stats, StopReason, Strategy } from './core/outcome.ts';
export { explore } from './explore/explore.ts';
export type { ExploreOptions, Progress } from './explore/explore.ts';
