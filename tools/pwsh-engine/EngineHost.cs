using System.Collections.ObjectModel;
using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Security;

namespace PwshEngine;

/// <summary>
/// The PSHost behind $Host. It records `exit N` (the engine calls SetShouldExit for a top-level exit) and
/// gives the engine a UI whose streams go where pwsh's ConsoleHost sends them when stdout/stderr are pipes.
/// </summary>
internal sealed class EngineHost : PSHost
{
    private readonly EngineHostUserInterface _ui;

    public EngineHost(TextReader input, bool nonInteractive)
    {
        _ui = new EngineHostUserInterface(input, nonInteractive);
    }

    public bool ShouldExit { get; private set; }

    public int ExitCode { get; private set; }

    public EngineHostUserInterface EngineUI => _ui;

    public override string Name => "pwsh-engine";

    public override Version Version => PSVersionInfo.PSVersion;

    public override Guid InstanceId { get; } = Guid.NewGuid();

    public override PSHostUserInterface UI => _ui;

    public override CultureInfo CurrentCulture => CultureInfo.CurrentCulture;

    public override CultureInfo CurrentUICulture => CultureInfo.CurrentUICulture;

    public override void SetShouldExit(int exitCode)
    {
        ShouldExit = true;
        ExitCode = exitCode;
    }

    // Nested prompts need an interactive console loop inside a running command; this host has none, and a
    // nested prompt would otherwise read the caller's protocol lines from stdin as commands.
    public override void EnterNestedPrompt() =>
        throw new NotSupportedException("pwsh-engine does not support nested prompts.");

    public override void ExitNestedPrompt() =>
        throw new NotSupportedException("pwsh-engine does not support nested prompts.");

    public override void NotifyBeginApplication()
    {
    }

    public override void NotifyEndApplication()
    {
    }
}

/// <summary>
/// Where each stream goes, chosen to match pwsh 7.6's ConsoleHostUserInterface when stdout and stderr are
/// redirected (node-powershell, our tests, CI):
/// - output (formatted by Out-Default) -> stdout;
/// - error records -> stderr, one line per formatted line (pwsh writes errors to stderr when stderr is redirected
///   and it is not in an interactive prompt loop, which `-Command -` is not);
/// - warnings, verbose and debug -> stdout with pwsh's "WARNING: ", "VERBOSE: ", "DEBUG: " prefixes (pwsh writes
///   them through its console writer, i.e. stdout; they are shown only when the preference variables allow it);
/// - information records (not Write-Host's) -> nowhere (pwsh's WriteInformation is a no-op);
/// - progress -> nowhere (pwsh draws no progress when stdout is redirected).
/// Colours and VT sequences are never written (SupportsVirtualTerminal is false, and $PSStyle decorations are
/// stripped): whatever reads these pipes is a program, and the JSON our module prints must stay clean.
/// Every write goes to Console.Out/Console.Error, the same writers that `[Console]::Out.WriteLine(...)` uses,
/// so node-powershell's delimiter lines stay in order with our output; both writers flush on every write.
/// </summary>
internal sealed class EngineHostUserInterface : PSHostUserInterface
{
    private const string NonInteractiveMessage =
        "PowerShell is in NonInteractive mode. Read and Prompt functionality is not available.";

    private readonly TextReader _input;
    private readonly bool _nonInteractive;
    private readonly EngineHostRawUserInterface _rawUI = new();

    public EngineHostUserInterface(TextReader input, bool nonInteractive)
    {
        _input = input;
        _nonInteractive = nonInteractive;
    }

    /// <summary>
    /// While set, ordinary output goes to stderr too. Used to report a terminating error: pwsh formats it with
    /// Out-Default as an error-stream record, which a host outside the engine cannot mark as such.
    /// </summary>
    public bool RouteOutputToError { get; set; }

    public override PSHostRawUserInterface RawUI => _rawUI;

    public override bool SupportsVirtualTerminal => false;

    private TextWriter Out => RouteOutputToError ? Console.Error : Console.Out;

    public override void Write(string value) => Out.Write(Plain(value));

    public override void Write(ConsoleColor foregroundColor, ConsoleColor backgroundColor, string value) =>
        Out.Write(Plain(value));

    public override void WriteLine() => Out.WriteLine();

    public override void WriteLine(string value) => Out.WriteLine(Plain(value));

    public override void WriteLine(ConsoleColor foregroundColor, ConsoleColor backgroundColor, string value) =>
        Out.WriteLine(Plain(value));

    public override void WriteErrorLine(string value)
    {
        // pwsh skips empty error lines too.
        if (!string.IsNullOrEmpty(value))
        {
            Console.Error.WriteLine(Plain(value));
        }
    }

    public override void WriteWarningLine(string message) => Out.WriteLine("WARNING: " + Plain(message));

    public override void WriteVerboseLine(string message) => Out.WriteLine("VERBOSE: " + Plain(message));

    public override void WriteDebugLine(string message) => Out.WriteLine("DEBUG: " + Plain(message));

    public override void WriteInformation(InformationRecord record)
    {
        // pwsh's console host shows nothing for information records; Write-Host style messages reach the host
        // through Write/WriteLine instead.
    }

    public override void WriteProgress(long sourceId, ProgressRecord record)
    {
        // pwsh draws no progress when stdout is redirected; a progress bar would corrupt piped output.
    }

    public override string ReadLine()
    {
        ThrowIfNonInteractive();
        return _input.ReadLine() ?? string.Empty;
    }

    public override SecureString ReadLineAsSecureString()
    {
        ThrowIfNonInteractive();
        var secure = new SecureString();
        foreach (char c in _input.ReadLine() ?? string.Empty)
        {
            secure.AppendChar(c);
        }

        secure.MakeReadOnly();
        return secure;
    }

    public override Dictionary<string, PSObject> Prompt(string caption, string message,
        Collection<FieldDescription> descriptions)
    {
        ThrowIfNonInteractive();
        WriteCaption(caption, message);
        var answers = new Dictionary<string, PSObject>();
        foreach (FieldDescription field in descriptions)
        {
            Write(field.Name + ": ");
            bool secret = field.ParameterTypeFullName == typeof(SecureString).FullName;
            answers[field.Name] = secret ? PSObject.AsPSObject(ReadLineAsSecureString()) : PSObject.AsPSObject(ReadLine());
        }

        return answers;
    }

    public override PSCredential PromptForCredential(string caption, string message, string userName,
        string targetName) =>
        PromptForCredential(caption, message, userName, targetName, PSCredentialTypes.Default,
            PSCredentialUIOptions.Default);

    public override PSCredential PromptForCredential(string caption, string message, string userName,
        string targetName, PSCredentialTypes allowedCredentialTypes, PSCredentialUIOptions options)
    {
        ThrowIfNonInteractive();
        WriteCaption(caption, message);
        if (string.IsNullOrEmpty(userName))
        {
            Write("User: ");
            userName = ReadLine();
        }

        Write("Password for user " + userName + ": ");
        return new PSCredential(userName, ReadLineAsSecureString());
    }

    public override int PromptForChoice(string caption, string message, Collection<ChoiceDescription> choices,
        int defaultChoice)
    {
        ThrowIfNonInteractive();
        WriteCaption(caption, message);
        for (int i = 0; i < choices.Count; i++)
        {
            WriteLine($"[{i}] {choices[i].Label.Replace("&", string.Empty)}  {choices[i].HelpMessage}");
        }

        while (true)
        {
            Write(defaultChoice >= 0 ? $"Choice (default {defaultChoice}): " : "Choice: ");
            string answer = ReadLine().Trim();
            if (answer.Length == 0 && defaultChoice >= 0)
            {
                return defaultChoice;
            }

            if (int.TryParse(answer, NumberStyles.None, CultureInfo.InvariantCulture, out int index)
                && index < choices.Count)
            {
                return index;
            }

            for (int i = 0; i < choices.Count; i++)
            {
                string label = choices[i].Label;
                int hot = label.IndexOf('&');
                bool hotKey = hot >= 0 && hot + 1 < label.Length
                              && string.Equals(label.Substring(hot + 1, 1), answer, StringComparison.OrdinalIgnoreCase);
                if (hotKey || string.Equals(label.Replace("&", string.Empty), answer, StringComparison.OrdinalIgnoreCase))
                {
                    return i;
                }
            }

            // End of input while prompting: stop instead of looping forever.
            if (_input.Peek() < 0)
            {
                throw new PSInvalidOperationException("No answer: standard input is at its end.");
            }
        }
    }

    /// <summary>Strip VT sequences ($PSStyle decorations such as table header colours): output here is plain text.</summary>
    private static string Plain(string value) => GetOutputString(value, supportsVirtualTerminal: false);

    private void WriteCaption(string caption, string message)
    {
        if (!string.IsNullOrEmpty(caption)) WriteLine(caption);
        if (!string.IsNullOrEmpty(message)) WriteLine(message);
    }

    /// <summary>
    /// -NonInteractive: every read or prompt fails with pwsh's own message instead of consuming stdin, where
    /// the next lines are the caller's protocol (node-powershell's delimiters), not answers.
    /// </summary>
    private void ThrowIfNonInteractive()
    {
        if (_nonInteractive)
        {
            throw new PSInvalidOperationException(NonInteractiveMessage);
        }
    }
}

/// <summary>
/// A console without a screen buffer: sizes come from the terminal when there is one and fall back to pwsh's
/// 80x40 wrap size otherwise (the width Out-Default formats tables to); buffer operations are not supported.
/// </summary>
internal sealed class EngineHostRawUserInterface : PSHostRawUserInterface
{
    private static readonly Size WrapSize = new(80, 40);

    public override ConsoleColor ForegroundColor { get; set; } = ConsoleColor.Gray;

    public override ConsoleColor BackgroundColor { get; set; } = ConsoleColor.Black;

    public override Size BufferSize
    {
        get => TerminalSize(() => new Size(Console.BufferWidth, Console.BufferHeight));
        set { }
    }

    public override Size WindowSize
    {
        get => TerminalSize(() => new Size(Console.WindowWidth, Console.WindowHeight));
        set { }
    }

    public override Size MaxWindowSize => TerminalSize(() => new Size(Console.LargestWindowWidth, Console.LargestWindowHeight));

    public override Size MaxPhysicalWindowSize => MaxWindowSize;

    public override Coordinates CursorPosition { get; set; }

    public override Coordinates WindowPosition { get; set; }

    public override int CursorSize { get; set; } = 25;

    public override string WindowTitle { get; set; } = "pwsh-engine";

    public override bool KeyAvailable => false;

    public override void FlushInputBuffer()
    {
    }

    public override KeyInfo ReadKey(ReadKeyOptions options) =>
        throw new NotSupportedException("pwsh-engine cannot read single keys.");

    public override BufferCell[,] GetBufferContents(Rectangle rectangle) =>
        throw new NotSupportedException("pwsh-engine has no screen buffer.");

    public override void ScrollBufferContents(Rectangle source, Coordinates destination, Rectangle clip, BufferCell fill) =>
        throw new NotSupportedException("pwsh-engine has no screen buffer.");

    public override void SetBufferContents(Coordinates origin, BufferCell[,] contents) =>
        throw new NotSupportedException("pwsh-engine has no screen buffer.");

    public override void SetBufferContents(Rectangle rectangle, BufferCell fill) =>
        throw new NotSupportedException("pwsh-engine has no screen buffer.");

    private static Size TerminalSize(Func<Size> read)
    {
        if (Console.IsOutputRedirected)
        {
            return WrapSize;
        }

        try
        {
            Size size = read();
            return size.Width <= 0 || size.Height <= 0 ? WrapSize : size;
        }
        catch (Exception e) when (e is IOException or PlatformNotSupportedException or InvalidOperationException)
        {
            return WrapSize;
        }
    }
}
