export function AutoscalingPage() {
  return <h1>AutoscalingPage</h1>;
}
