/** Glue between commander and the output: every action's errors become a message and an exit code. */
import { InvalidArgumentError } from '@commander-js/extra-typings';
import { printError } from './output.js';

export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      process.exitCode = printError(err);
    }
  };
}

export function int(value: string): number {
  if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError('not an integer');
  return Number(value);
}
