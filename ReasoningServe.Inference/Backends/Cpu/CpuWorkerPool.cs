namespace ReasoningServe.Inference.Backends.Cpu;

/// <summary>One parallel step: <see cref="Execute"/> runs once per item, on whichever worker takes it.</summary>
internal abstract class ParallelJob
{
    public abstract void Execute(int item, int worker);
}

/// <summary>
/// A fixed set of threads that run a <see cref="ParallelJob"/> over items 0..n-1, the calling thread included
/// (it is worker 0). Items are taken dynamically, so uneven items balance. Unlike Parallel.For this allocates nothing
/// per call, which matters at ~100 dispatches per decode step.
/// </summary>
internal sealed class CpuWorkerPool : IDisposable
{
    private readonly Thread[] _threads;
    private readonly SemaphoreSlim[] _wake;
    private readonly ManualResetEventSlim _done = new(false);
    private ParallelJob? _job;
    private int _itemCount;
    private int _nextItem;
    private int _running;
    private volatile bool _stopping;
    private Exception? _failure;

    public CpuWorkerPool(int workers)
    {
        WorkerCount = Math.Max(1, workers);
        _threads = new Thread[WorkerCount - 1];
        _wake = new SemaphoreSlim[WorkerCount - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            _wake[i] = new SemaphoreSlim(0);
            int worker = i + 1;
            _threads[i] = new Thread(() => WorkerLoop(worker)) { IsBackground = true, Name = $"cpu-backend-{worker}" };
            _threads[i].Start();
        }
    }

    public int WorkerCount { get; }

    public void Run(int itemCount, ParallelJob job)
    {
        if (itemCount <= 0)
        {
            return;
        }
        if (itemCount == 1 || _threads.Length == 0)
        {
            for (int i = 0; i < itemCount; i++)
            {
                job.Execute(i, 0);
            }
            return;
        }
        _job = job;
        _itemCount = itemCount;
        _nextItem = 0;
        _failure = null;
        int helpers = Math.Min(_threads.Length, itemCount - 1);
        _running = helpers;
        _done.Reset();
        for (int i = 0; i < helpers; i++)
        {
            _wake[i].Release();
        }
        Drain(0);
        _done.Wait();
        _job = null;
        if (_failure is { } failure)
        {
            throw new AggregateException("A CPU backend worker failed.", failure);
        }
    }

    private void Drain(int worker)
    {
        ParallelJob job = _job!;
        try
        {
            int item;
            while ((item = Interlocked.Increment(ref _nextItem) - 1) < _itemCount)
            {
                job.Execute(item, worker);
            }
        }
        catch (Exception e)
        {
            _failure ??= e;
            Volatile.Write(ref _nextItem, _itemCount);
        }
    }

    private void WorkerLoop(int worker)
    {
        while (true)
        {
            _wake[worker - 1].Wait();
            if (_stopping)
            {
                return;
            }
            Drain(worker);
            if (Interlocked.Decrement(ref _running) == 0)
            {
                _done.Set();
            }
        }
    }

    public void Dispose()
    {
        _stopping = true;
        foreach (SemaphoreSlim wake in _wake)
        {
            wake.Release();
        }
        foreach (Thread thread in _threads)
        {
            thread.Join();
        }
        foreach (SemaphoreSlim wake in _wake)
        {
            wake.Dispose();
        }
        _done.Dispose();
    }
}
