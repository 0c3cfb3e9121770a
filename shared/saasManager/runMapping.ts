/**
 * SaaS Manager run JSON → the `WorkflowRun` port type. Pure, and defensive: every field is
 * untrusted input, absent fields are omitted by the API (never null, except in custom fields),
 * and only strings make it into the result.
 */
import type { Person, PersonRef, RunVariableValue, WaitingStep, WorkflowRun } from '../domain';
import { isRecord } from '../guards';

/** The run's id, or undefined when the JSON is not a run at all. */
export function runIdOf(json: unknown): string | undefined {
  return isRecord(json) ? nonEmpty(json.id) : undefined;
}

export function toWorkflowRun(
  json: Record<string, unknown>,
  step: WaitingStep,
  variableNames: readonly string[] = [],
): WorkflowRun {
  const runId = nonEmpty(json.id) ?? '';
  const status = nonEmpty(json.status) ?? 'Unknown';
  // A step can appear more than once (loops); the one that counts is the entry still waiting.
  const waiting = (Array.isArray(json.steps) ? json.steps : [])
    .filter(isRecord)
    .find((entry) => entry.id === step.stepId && entry.status === 'Waiting');
  const actions =
    waiting && isRecord(waiting.waiting) && Array.isArray(waiting.waiting.actions)
      ? waiting.waiting.actions
      : [];
  // Bounded: a hostile or broken answer cannot grow messages and logs without limit.
  const available = actions
    .slice(0, MAX_ACTIONS)
    .filter(isRecord)
    .filter((action) => nonEmpty(action.name) !== undefined);
  const ours = available.find((action) => nonEmpty(action.name) === step.actionName);

  const run: WorkflowRun = {
    runId,
    workflowId: step.workflowId,
    workflowName: step.workflowName,
    status,
    waitingAtStep: status !== 'Terminated' && waiting !== undefined,
    availableActions: available.map((action) => nonEmpty(action.name) as string),
  };
  const name = nonEmpty(json.name);
  if (name !== undefined) run.name = name;
  const person = toPerson(isRecord(json.context) ? json.context.person : undefined);
  if (person) run.person = person;
  const href = ours ? nonEmpty(ours.href) : undefined;
  if (href !== undefined) run.signalHref = href;
  const variables = toVariables(isRecord(json.context) ? json.context.variables : undefined, variableNames);
  if (variables) run.variables = variables;
  const hrefs = new Map<string, string>();
  for (const action of available) {
    const actionHref = nonEmpty(action.href);
    const actionName = nonEmpty(action.name) as string;
    if (actionHref !== undefined && !hrefs.has(actionName)) hrefs.set(actionName, actionHref);
  }
  if (hrefs.size > 0) run.actionHrefs = Object.fromEntries(hrefs);
  return run;
}

/** Longest run-variable text kept; longer values are cut here and refused by the planner's length cap. */
const MAX_VARIABLE = 4096;

/** Only the variables we asked for, as plain values; objects and lists are marked, never passed on. */
function toVariables(value: unknown, names: readonly string[]): Record<string, RunVariableValue> | undefined {
  if (!isRecord(value) || names.length === 0) return undefined;
  const variables: Record<string, RunVariableValue> = {};
  for (const name of names) {
    if (!Object.prototype.hasOwnProperty.call(value, name)) continue;
    const raw = value[name];
    if (typeof raw === 'string') variables[name] = raw.slice(0, MAX_VARIABLE);
    else if (typeof raw === 'number' || typeof raw === 'boolean' || raw === null) variables[name] = raw;
    else if (Array.isArray(raw)) variables[name] = { unsupported: 'list' };
    else if (isRecord(raw)) variables[name] = { unsupported: 'object' };
  }
  return Object.keys(variables).length > 0 ? variables : undefined;
}

function toPerson(value: unknown): Person | undefined {
  if (!isRecord(value)) return undefined;
  const person: Person = {};
  for (const key of ['id', 'name', 'firstName', 'lastName', 'email'] as const) {
    const field = nonEmpty(value[key]);
    if (field !== undefined) person[key] = field;
  }
  const manager = toPersonRef(value.lineManager);
  if (manager) person.lineManager = manager;
  return Object.keys(person).length > 0 ? person : undefined;
}

function toPersonRef(value: unknown): PersonRef | undefined {
  if (!isRecord(value)) return undefined;
  const ref: PersonRef = {};
  const name = nonEmpty(value.name);
  const email = nonEmpty(value.email);
  if (name !== undefined) ref.name = name;
  if (email !== undefined) ref.email = email;
  return Object.keys(ref).length > 0 ? ref : undefined;
}

/** Longest text kept from a run (names, emails, hrefs); longer values are cut, never echoed whole. */
const MAX_FIELD = 512;
const MAX_ACTIONS = 50;

function nonEmpty(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const trimmed = value.slice(0, 4 * MAX_FIELD).trim();
  if (trimmed === '') return undefined;
  return trimmed.length > MAX_FIELD ? trimmed.slice(0, MAX_FIELD) : trimmed;
}
