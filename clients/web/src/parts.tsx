/** Small pieces several parts of the page show alike. */

/** A read that failed, said as such, with a button that asks again. */
export function Failure(props: { problem: string; onRetry(): void }) {
  return (
    <p role="alert">
      {props.problem} <button onClick={() => props.onRetry()}>Try again</button>
    </p>
  );
}

/** The end of a form that saves in place: Save (off while it runs), Cancel, and the last refusal. */
export function SaveOrCancel(props: { busy: boolean; problem: string; onClose(): void }) {
  return (
    <>
      <button type="submit" disabled={props.busy}>
        Save
      </button>
      <button type="button" onClick={() => props.onClose()}>
        Cancel
      </button>
      {props.problem && <p role="alert">{props.problem}</p>}
    </>
  );
}
