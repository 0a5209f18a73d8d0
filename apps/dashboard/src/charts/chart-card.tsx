/** A chart with its title, links next to the title, and a note under it. */
import type { ReactNode } from 'react';

export function ChartCard({ title, actions, note, children }: { title: string; actions?: ReactNode; note?: ReactNode; children: ReactNode }) {
  return (
    <figure className="chart-card">
      <figcaption>
        <span className="chart-title">{title}</span>
        {actions ? <span className="chart-actions">{actions}</span> : null}
      </figcaption>
      {children}
      {note ? <p className="chart-note muted">{note}</p> : null}
    </figure>
  );
}
