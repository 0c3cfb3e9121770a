/**
 * The two phases of a run's Exchange work as the report shows them: the look (what each action
 * would change, and its before-image) and the apply (what it did, and the state it left), merged
 * into one ActionResult per action. Pure.
 */
import type { ActionApplied, ActionLook, ActionResult, ExchangeApply } from '../ports';

/** The report's view of a look: status, detail, cmdlets and warnings (images stay in the journal). */
export function lookResult(look: ActionLook): ActionResult {
  const { before: _before, changes: _changes, ...result } = look;
  return result;
}

/**
 * Per action: the look's lookups followed by what apply ran. A planned action without an apply
 * answer failed: with `apply.notApplied` nothing was changed, with `apply.unknown` the result is unknown.
 */
export function mergeApplied(looks: readonly ActionLook[], apply: ExchangeApply): ActionResult[] {
  return looks.map((look) => {
    const base = lookResult(look);
    if (look.status !== 'planned') return base;
    const applied = apply.actions.find((candidate) => candidate.name === look.name);
    const lookups = (look.cmdlets ?? []).slice(0, (look.cmdlets ?? []).length - (look.changes ?? []).length);
    if (!applied) {
      const reason =
        apply.notApplied !== undefined
          ? `not applied, nothing was changed: ${apply.notApplied}`
          : apply.unknown !== undefined
            ? `result unknown: ${apply.unknown}`
            : 'PowerShell returned no result for this action, so its result is unknown.';
      return {
        ...base,
        status: 'failed',
        detail: reason,
        ...(lookups.length > 0 ? { cmdlets: lookups } : {}),
      };
    }
    return appliedResult(base, lookups, applied);
  });
}

function appliedResult(base: ActionResult, lookups: string[], applied: ActionApplied): ActionResult {
  const cmdlets = [...lookups, ...(applied.cmdlets ?? [])];
  const warnings = [...(base.warnings ?? []), ...(applied.warnings ?? [])];
  const result: ActionResult = { name: base.name, status: applied.status };
  if (applied.detail !== undefined) result.detail = applied.detail;
  if (cmdlets.length > 0) result.cmdlets = cmdlets;
  if (warnings.length > 0) result.warnings = warnings;
  return result;
}
