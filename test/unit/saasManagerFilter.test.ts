import { FilterSyntaxError, matchesFilter, parseFilter } from '../../sandbox/saasManagerFilter';

const WAITING_FILTER = 'status ne "Terminated" and steps[status eq "Waiting" and id eq "a1"]';

function run(
  status: string,
  steps: Array<{ id: string; status: string }>,
  extra: Record<string, unknown> = {},
) {
  return {
    id: 'r1',
    name: 'Stephanie Mason',
    status,
    steps,
    createdDtm: '2024-04-25T17:00:01.207Z',
    ...extra,
  };
}

function matches(filter: string, target: unknown): boolean {
  return matchesFilter(parseFilter(filter), target);
}

describe('the simulator filter parser', () => {
  it('parses the documented waiting-runs filter into a tree', () => {
    expect(parseFilter(WAITING_FILTER)).toEqual({
      kind: 'and',
      left: { kind: 'compare', path: ['status'], operator: 'ne', value: 'Terminated' },
      right: {
        kind: 'complex',
        path: ['steps'],
        filter: {
          kind: 'and',
          left: { kind: 'compare', path: ['status'], operator: 'eq', value: 'Waiting' },
          right: { kind: 'compare', path: ['id'], operator: 'eq', value: 'a1' },
        },
      },
    });
  });

  it('binds "and" tighter than "or", and parentheses tighter than both', () => {
    expect(parseFilter('a eq 1 or b eq 2 and c eq 3')).toMatchObject({ kind: 'or', right: { kind: 'and' } });
    expect(parseFilter('(a eq 1 or b eq 2) and c eq 3')).toMatchObject({ kind: 'and', left: { kind: 'or' } });
  });

  it('reads not, pr, dotted paths, numbers, booleans and null, ignoring keyword case', () => {
    expect(parseFilter('NOT (createdBy.email PR) Or deleted EQ false and count gt -2 and x eq null')).toEqual(
      {
        kind: 'or',
        left: { kind: 'not', operand: { kind: 'present', path: ['createdBy', 'email'] } },
        right: {
          kind: 'and',
          left: {
            kind: 'and',
            left: { kind: 'compare', path: ['deleted'], operator: 'eq', value: false },
            right: { kind: 'compare', path: ['count'], operator: 'gt', value: -2 },
          },
          right: { kind: 'compare', path: ['x'], operator: 'eq', value: null },
        },
      },
    );
  });

  it('reads escaped quotes in strings', () => {
    expect(parseFilter('name eq "Say \\"hi\\""')).toMatchObject({ value: 'Say "hi"' });
  });

  it.each([
    ['status eq', 'expected a value, found the end of the filter at position 9'],
    ['status is "x"', 'unknown operator "is" at position 7'],
    ['(status eq "a"', 'expected ")", found the end of the filter at position 14'],
    ['steps[status eq "a"', 'expected "]", found the end of the filter at position 19'],
    ['"x" eq "y"', 'expected an attribute name, found the string "x" at position 0'],
    ['status eq "open', 'unterminated string at position 10'],
    ['status eq "a" and', 'expected an attribute name, found the end of the filter at position 17'],
    ['status ~ "x"', 'unexpected "~" at position 7'],
    ['status eq "a" status eq "b"', 'expected end of filter, found "status" at position 14'],
    ['and eq "a"', 'expected an attribute name, found "and" at position 0'],
  ])('rejects %s', (filter, message) => {
    expect(() => parseFilter(filter)).toThrow(FilterSyntaxError);
    expect(() => parseFilter(filter)).toThrow(message);
  });

  it('refuses filters nested too deeply', () => {
    expect(() => parseFilter(`${'('.repeat(40)}a eq 1${')'.repeat(40)}`)).toThrow('nested too deeply');
  });
});

describe('the simulator filter evaluation', () => {
  it('selects runs waiting at the step, and not terminated ones', () => {
    expect(
      matches(
        WAITING_FILTER,
        run('Waiting', [
          { id: 'a0', status: 'Completed' },
          { id: 'a1', status: 'Waiting' },
        ]),
      ),
    ).toBe(true);
    expect(matches(WAITING_FILTER, run('Terminated', [{ id: 'a1', status: 'Waiting' }]))).toBe(false);
    expect(
      matches(
        WAITING_FILTER,
        run('Waiting', [
          { id: 'a1', status: 'Completed' },
          { id: 'a2', status: 'Waiting' },
        ]),
      ),
    ).toBe(false);
  });

  it('matches strings ignoring case, as SCIM does', () => {
    expect(matches('name eq "stephanie mason"', run('Waiting', []))).toBe(true);
    expect(matches('name co "MASON"', run('Waiting', []))).toBe(true);
    expect(matches('name sw "steph"', run('Waiting', []))).toBe(true);
    expect(matches('name ew "son"', run('Waiting', []))).toBe(true);
    expect(matches('name sw "mason"', run('Waiting', []))).toBe(false);
  });

  it('compares dates as text and numbers as numbers', () => {
    expect(matches('createdDtm ge "2024-01-01"', run('Waiting', []))).toBe(true);
    expect(matches('createdDtm lt "2024-01-01"', run('Waiting', []))).toBe(false);
    expect(matches('size gt 9', run('Waiting', [], { size: 10 }))).toBe(true);
    expect(matches('size le 9', run('Waiting', [], { size: 10 }))).toBe(false);
  });

  it('treats pr, not and ne on absent attributes the SCIM way', () => {
    const target = run('Waiting', [], { context: { person: { email: 'a@example.com' } } });
    expect(matches('context.person.email pr', target)).toBe(true);
    expect(matches('context.person.lineManager.email pr', target)).toBe(false);
    expect(matches('not (context.person.lineManager.email pr)', target)).toBe(true);
    expect(matches('context.person.lineManager.email ne "x"', target)).toBe(true);
    expect(matches('context.person.lineManager eq null', target)).toBe(true);
  });

  it('matches an array when any element matches', () => {
    const target = run('Waiting', [
      { id: 'a0', status: 'Completed' },
      { id: 'a1', status: 'Waiting' },
    ]);
    expect(matches('steps.status eq "waiting"', target)).toBe(true);
    expect(matches('steps[id eq "a0" and status eq "Waiting"]', target)).toBe(false);
    expect(matches('steps[id eq "a0" or status eq "Waiting"]', target)).toBe(true);
  });
});
