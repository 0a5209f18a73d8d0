/**
 * Vertical lines at given times (decisions, events) drawn over a uPlot chart, each with its
 * colour; markers outside the x range are not drawn.
 */
import type uPlot from 'uplot';

export interface ChartMarker {
  /** Unix seconds. */
  time: number;
  color: string;
  label: string;
}

export function markersPlugin(markers: readonly ChartMarker[]): uPlot.Plugin {
  return {
    hooks: {
      draw: (u: uPlot) => {
        const { ctx, bbox } = u;
        const [min, max] = [u.scales.x.min, u.scales.x.max];
        if (min === undefined || max === undefined) return;
        ctx.save();
        ctx.lineWidth = Math.max(1, devicePixelRatio);
        ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
        for (const marker of markers) {
          if (marker.time < min || marker.time > max) continue;
          const x = Math.round(u.valToPos(marker.time, 'x', true));
          ctx.strokeStyle = marker.color;
          ctx.beginPath();
          ctx.moveTo(x, bbox.top);
          ctx.lineTo(x, bbox.top + bbox.height);
          ctx.stroke();
        }
        ctx.restore();
      },
    },
  };
}
