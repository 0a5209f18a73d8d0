import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { RouterProvider } from 'react-router';
import { createRouter } from './app/router';
import { SessionProvider } from './app/session';
import './styles.css';

// Live data comes over the WebSocket, which invalidates what changed; nothing refetches on a timer.
const queryClient = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity, retry: 1, refetchOnWindowFocus: false } } });

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <SessionProvider>
        <RouterProvider router={createRouter()} />
      </SessionProvider>
    </QueryClientProvider>
  </StrictMode>,
);
