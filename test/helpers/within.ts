/**
 * `promise`, or a failure saying what never happened once `ms` passed. A bound on a hang, not a timed
 * assertion: what is awaited takes milliseconds when it works, and without the bound a missing close or end
 * shows only as the whole file timing out, minutes later, without a reason.
 */
export async function within<T>(promise: Promise<T>, what: string, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting after ${ms / 1000} s: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, stuck]);
  } finally {
    clearTimeout(timer);
  }
}
