using System.Runtime.InteropServices;
using System.Text;

namespace ReasoningServe.Inference.Tokenization;

/// <summary>
/// Unicode normalization (NFC, NFD, NFKC, NFKD) that works in globalization-invariant mode.
/// </summary>
/// <remarks>
/// The solution sets InvariantGlobalization, and there string.Normalize silently returns its input unchanged
/// (and IsNormalized answers true), so Qwen3's NFC normalizer would do nothing. We therefore call the system ICU's
/// unorm2 API directly — the same library .NET itself uses when not invariant — and fall back to string.Normalize
/// only where that one actually works. No ICU and an invariant runtime is an error, not a silent no-op.
/// </remarks>
internal static unsafe class UnicodeNormalizer
{
    private static readonly Lazy<Backend> s_backend = new(CreateBackend);

    /// <summary>Throws if this process cannot normalize text, so a tokenizer that needs it fails at load.</summary>
    public static void EnsureAvailable() => _ = s_backend.Value;

    public static string Normalize(string text, NormalizationForm form)
    {
        if (IsTriviallyNormalized(text, form))
        {
            return text;
        }
        return s_backend.Value.Normalize(text, form);
    }

    /// <summary>No character below U+0300 changes under NFC (the first NFC_QC=Maybe is U+0300); for the other forms
    /// only ASCII and C1 controls are safe to skip (Latin-1 has decomposable and compatibility characters).</summary>
    private static bool IsTriviallyNormalized(string text, NormalizationForm form) =>
        !text.AsSpan().ContainsAnyExceptInRange('\0', form == NormalizationForm.FormC ? '\u02FF' : '\u009F');

    private abstract class Backend
    {
        public abstract string Normalize(string text, NormalizationForm form);
    }

    private sealed class BclBackend : Backend
    {
        public override string Normalize(string text, NormalizationForm form) => text.Normalize(form);
    }

    private sealed class IcuBackend(
        delegate* unmanaged<int*, nint>[] instanceGetters,
        delegate* unmanaged<nint, char*, int, char*, int, int*, int> normalize) : Backend
    {
        private readonly nint[] _instances = new nint[4];

        public override string Normalize(string text, NormalizationForm form)
        {
            int index = form switch
            {
                NormalizationForm.FormC => 0,
                NormalizationForm.FormD => 1,
                NormalizationForm.FormKC => 2,
                NormalizationForm.FormKD => 3,
                _ => throw new ArgumentOutOfRangeException(nameof(form)),
            };
            nint instance = _instances[index];
            if (instance == 0)
            {
                int status = 0;
                instance = instanceGetters[index](&status);
                if (status > 0 || instance == 0)
                {
                    throw new InvalidOperationException($"ICU could not create the {form} normalizer (error {status}).");
                }
                _instances[index] = instance; // ICU instances are process-wide singletons; a race stores the same value
            }

            // Decomposition can grow text by a factor of up to 18 (NFKD); start with a margin and retry on overflow.
            int capacity = text.Length * 2 + 16;
            while (true)
            {
                char[] buffer = new char[capacity];
                int status = 0;
                int length;
                fixed (char* source = text)
                fixed (char* destination = buffer)
                {
                    length = normalize(instance, source, text.Length, destination, capacity, &status);
                }
                const int BufferOverflow = 15;
                if (status == BufferOverflow)
                {
                    capacity = length;
                    continue;
                }
                if (status > 0)
                {
                    throw new InvalidOperationException($"ICU normalization failed (error {status}).");
                }
                return new string(buffer, 0, length);
            }
        }
    }

    private static Backend CreateBackend()
    {
        if ("e\u0301".Normalize(NormalizationForm.FormC).Length == 1)
        {
            return new BclBackend();
        }
        foreach (var (library, suffix) in IcuCandidates())
        {
            if (!NativeLibrary.TryLoad(library, out nint handle))
            {
                continue;
            }
            if (NativeLibrary.TryGetExport(handle, "unorm2_normalize" + suffix, out nint normalize)
                && NativeLibrary.TryGetExport(handle, "unorm2_getNFCInstance" + suffix, out nint nfc)
                && NativeLibrary.TryGetExport(handle, "unorm2_getNFDInstance" + suffix, out nint nfd)
                && NativeLibrary.TryGetExport(handle, "unorm2_getNFKCInstance" + suffix, out nint nfkc)
                && NativeLibrary.TryGetExport(handle, "unorm2_getNFKDInstance" + suffix, out nint nfkd))
            {
                var getters = new delegate* unmanaged<int*, nint>[]
                {
                    (delegate* unmanaged<int*, nint>)nfc, (delegate* unmanaged<int*, nint>)nfd,
                    (delegate* unmanaged<int*, nint>)nfkc, (delegate* unmanaged<int*, nint>)nfkd,
                };
                return new IcuBackend(getters, (delegate* unmanaged<nint, char*, int, char*, int, int*, int>)normalize);
            }
            NativeLibrary.Free(handle);
        }
        throw new PlatformNotSupportedException(
            "Unicode normalization is unavailable: the runtime is in globalization-invariant mode (where string.Normalize " +
            "does nothing) and no ICU library (libicuuc) was found. Install ICU (e.g. the libicu package).");
    }

    /// <summary>Linux ships ICU as libicuuc.so.NN with version-suffixed symbols (unorm2_normalize_72); Windows'
    /// icu.dll and macOS's libicucore export them without a suffix.</summary>
    private static IEnumerable<(string Library, string Suffix)> IcuCandidates()
    {
        if (OperatingSystem.IsWindows())
        {
            yield return ("icu.dll", "");
            yield return ("icuuc.dll", "");
            yield break;
        }
        if (OperatingSystem.IsMacOS())
        {
            yield return ("libicucore.dylib", "");
            yield break;
        }
        for (int version = 90; version >= 50; version--)
        {
            yield return ($"libicuuc.so.{version}", "_" + version);
        }
        yield return ("libicuuc.so", "");
    }
}
