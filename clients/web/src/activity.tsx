import type { DomainEvent } from './types.js';

/** What happened to the viewer's machines since the page opened, as libvirt named it; new events on top. */
export function Activity(props: { events: readonly DomainEvent[] }) {
  if (!props.events.length) return null;
  return (
    <section id="activity">
      <h2>Since you opened this page</h2>
      <ol>
        {props.events.map((e) => (
          <li key={e.cursor} data-type={e.type}>
            <time dateTime={e.at}>{new Date(e.at).toLocaleTimeString()}</time> <b>{e.domain.name}</b> {e.type.toLowerCase()}
            {e.detail ? ` (${e.detail.toLowerCase().replace(/_/g, ' ')})` : ''}
            {e.synthetic ? ' · seen after the fact' : ''}
          </li>
        ))}
      </ol>
    </section>
  );
}
