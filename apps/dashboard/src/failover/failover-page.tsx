export function FailoverPage() {
  return <h1>FailoverPage</h1>;
}
