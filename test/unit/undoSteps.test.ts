/** The undo plan from a run's journal (pure): only changes this app made, newest first. */
import type { ActionHistory, AttemptHistory, RunHistory } from '../../shared/domain';
import { undoSteps } from '../../shared/undo/runUndo';

const action = (
  index: number,
  name: string,
  status: ActionHistory['status'],
  result?: Partial<NonNullable<ActionHistory['result']>>,
): ActionHistory => ({
  index,
  name,
  status,
  lookedAt: '2026-12-01T00:00:00Z',
  before: { mailbox: 'm', step: `${name}-before` },
  ...(result
    ? {
        result: {
          name,
          status: 'done',
          at: '2026-12-01T00:00:01Z',
          after: { step: `${name}-after` },
          ...result,
        },
      }
    : {}),
});

const attempt = (n: number, actions: ActionHistory[]): AttemptHistory => ({
  runId: 'r',
  attempt: n,
  workflowId: 'w',
  workflowName: 'Terminate Users',
  sweepId: `s${n}`,
  host: 'h',
  startedAt: '2026-12-01T00:00:00Z',
  email: 'pat@contoso.com',
  actions,
  signals: [],
});

const history = (...attempts: AttemptHistory[]): RunHistory => ({ runId: 'r', attempts });

describe('undoSteps', () => {
  it('takes only the actions whose result was a change, in reverse order across attempts', () => {
    const { steps, unknown } = undoSteps(
      history(
        attempt(1, [
          action(1, 'convertToShared', 'planned', {}),
          action(2, 'grantManagerFullAccess', 'planned', { status: 'failed', after: { unknown: true } }),
          action(3, 'grantManagerSendAs', 'already'),
        ]),
        attempt(2, [
          action(1, 'convertToShared', 'already'),
          action(2, 'grantManagerFullAccess', 'planned', {}),
        ]),
      ),
    );
    expect(steps.map((s) => s.action)).toEqual(['grantManagerFullAccess', 'convertToShared']);
    expect(steps[1]).toEqual({
      action: 'convertToShared',
      before: { mailbox: 'm', step: 'convertToShared-before' },
      after: { step: 'convertToShared-after' },
    });
    // The failed FullAccess of attempt 1 was made by attempt 2: not reported as unknown.
    expect(unknown).toEqual([]);
  });

  it('never restores a permission that existed before (the look said already)', () => {
    expect(undoSteps(history(attempt(1, [action(1, 'grantManagerFullAccess', 'already')]))).steps).toEqual(
      [],
    );
  });

  it('lists a change whose result is unknown instead of restoring it', () => {
    const { steps, unknown } = undoSteps(history(attempt(1, [action(1, 'hideFromAddressLists', 'planned')])));
    expect(steps).toEqual([]);
    expect(unknown).toEqual([
      expect.objectContaining({
        action: 'hideFromAddressLists',
        status: 'skipped',
        detail: expect.stringMatching(/no result/),
      }),
    ]);
  });

  it('keeps the groups a part-failed removal did leave', () => {
    const { steps } = undoSteps(
      history(
        attempt(1, [
          action(1, 'removeFromDistributionGroups', 'planned', {
            status: 'failed',
            after: { member: 'm', removedFrom: ['g1'] },
          }),
        ]),
      ),
    );
    expect(steps.map((s) => s.after)).toEqual([{ member: 'm', removedFrom: ['g1'] }]);
  });
});
