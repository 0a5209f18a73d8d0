/** Shared chart code: uPlot wrapper, time charts, data shaping for traffic points. */
export { ChartCard } from './chart-card';
export { markersPlugin, type ChartMarker } from './markers';
export { categoryColor, COLORS } from './palette';
export * from './series';
export { TimeSeriesChart, timeSeriesOptions, type LineSpec, type TimeSeriesChartProps } from './time-series-chart';
export { nearestSeries, UPlotChart, type UPlotChartProps } from './uplot-chart';
export { trafficHistoryPath, useTrafficHistory } from './use-traffic-history';
