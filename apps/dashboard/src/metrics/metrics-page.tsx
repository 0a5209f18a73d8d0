export function MetricsPage() {
  return <h1>MetricsPage</h1>;
}
