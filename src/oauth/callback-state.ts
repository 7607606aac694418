import { timingSafeEqual } from 'node:crypto';

/** Why an authorization response's `state` was refused. */
export type StateProblem = 'state_missing' | 'state_repeated' | 'state_mismatch';

/**
 * Checks the `state` of an authorization response before anything else is looked at: exactly one, equal to
 * the one this login sent, compared in constant time. The loopback callback and a pasted URL both go through
 * here, so the two paths refuse the same things.
 */
export function checkCallbackState(params: URLSearchParams, expectedState: string): StateProblem | undefined {
  const states = params.getAll('state');
  if (states.length === 0) return 'state_missing';
  if (states.length > 1) return 'state_repeated';
  return constantTimeEqual(Buffer.from(states[0] ?? '', 'utf8'), Buffer.from(expectedState, 'utf8')) ? undefined : 'state_mismatch';
}

function constantTimeEqual(actual: Buffer, expected: Buffer): boolean {
  // Compare fixed-length buffers so that neither content nor length leaks through timing.
  const padded = Buffer.alloc(expected.length);
  actual.copy(padded, 0, 0, expected.length);
  return timingSafeEqual(padded, expected) && actual.length === expected.length;
}
