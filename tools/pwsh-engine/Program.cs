using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Reflection;
using System.Text;

namespace PwshEngine;

/// <summary>
/// pwsh-engine: the PowerShell 7.6.9 engine (NuGet System.Management.Automation) behind pwsh's command line,
/// for machines where no pwsh binary can be installed. One runspace per process, like pwsh.
///
/// Modes, as pwsh 7.6's ConsoleHost runs them:
/// - `-Command -` (node-powershell: `-NoLogo -NoProfile -NonInteractive -NoExit -Command -`) and no command at all:
///   read stdin line by line and run each line as one command; a line whose input is incomplete (open brace,
///   here-string, trailing pipe) starts a block that, exactly like pwsh, runs at the next blank line. Output is
///   rendered by Out-Default with errors merged in, so strings print as-is and objects as pwsh formats them.
///   EOF ends the process with 0, or 1 when the last command failed ($? false), as pwsh does; `exit N` ends it
///   with N.
/// - `-Command text`: run it, then exit with 0 when `$?` is true and 1 otherwise (or N after `exit N`).
/// - `-File path args`: run the script with the arguments bound like pwsh binds them; exit with the script's
///   `exit N`, 1 after a terminating error, else by `$?`.
/// - `-Version`: print "PowerShell 7.6.9".
/// Text is UTF-8 both ways whatever the locale says.
/// </summary>
internal static class Program
{
    private const int ExitCodeSuccess = 0;
    private const int ExitCodeInitFailure = 70;
    private const int ExitCodeBadCommandLineParameter = 64;

    public static int Main(string[] args)
    {
        var utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
        Console.OutputEncoding = utf8;
        Console.InputEncoding = utf8;

        CommandLine commandLine = CommandLine.Parse(args);
        if (commandLine.Error is not null)
        {
            Console.Error.WriteLine(commandLine.Error);
            Console.Error.WriteLine("Run 'pwsh-engine -Help' for the supported parameters.");
            return ExitCodeBadCommandLineParameter;
        }

        if (commandLine.ShowVersion)
        {
            Console.Out.WriteLine("PowerShell " + EngineVersionText());
            return ExitCodeSuccess;
        }

        if (commandLine.ShowHelp)
        {
            Console.Out.WriteLine(CommandLine.Usage);
            return ExitCodeSuccess;
        }

        // One reader over stdin shared by the command loop, $Host.UI.ReadLine() and [Console]::In, so no reader
        // buffers lines that another one should have seen.
        var stdin = new StreamReader(Console.OpenStandardInput(), utf8, detectEncodingFromByteOrderMarks: false);
        Console.SetIn(stdin);

        var host = new EngineHost(Console.In, commandLine.NonInteractive);
        Runspace runspace;
        try
        {
            runspace = RunspaceFactory.CreateRunspace(host, InitialSessionState.CreateDefault2());
            // As pwsh: every command runs on one pipeline thread kept for the life of the runspace.
            runspace.ThreadOptions = PSThreadOptions.ReuseThread;
            runspace.Open();
            if (commandLine.WorkingDirectory is not null)
            {
                runspace.SessionStateProxy.Path.SetLocation(commandLine.WorkingDirectory);
            }
        }
        catch (Exception e)
        {
            Console.Error.WriteLine("pwsh-engine could not start the PowerShell engine: " + e.Message);
            return ExitCodeInitFailure;
        }

        using (runspace)
        {
            var shell = new Shell(runspace, host);
            if (commandLine.ShowBanner)
            {
                Console.Out.WriteLine("PowerShell " + EngineVersionText());
            }

            int exitCode = shell.Run(commandLine);
            Console.Out.Flush();
            Console.Error.Flush();
            return exitCode;
        }
    }

    /// <summary>pwsh prints PSVersionInfo.GitCommitId, e.g. "7.6.9" (release builds carry no commit suffix).</summary>
    internal static string EngineVersionText()
    {
        string? informational = typeof(PSObject).Assembly
            .GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        if (!string.IsNullOrWhiteSpace(informational))
        {
            string text = informational.Split(' ', '+')[0];
            if (text.Length > 0)
            {
                return text;
            }
        }

        return PSVersionInfo.PSVersion.ToString();
    }
}

/// <summary>Runs commands in the one runspace the way pwsh's Executor and input loop do.</summary>
internal sealed class Shell
{
    private readonly Runspace _runspace;
    private readonly EngineHost _host;

    public Shell(Runspace runspace, EngineHost host)
    {
        _runspace = runspace;
        _host = host;
    }

    public int Run(CommandLine commandLine)
    {
        if (commandLine.File is not null)
        {
            return RunFile(commandLine);
        }

        if (commandLine.Command is not null)
        {
            // Like pwsh, the command line is added to history; that also makes the engine keep the command's own
            // $? (a pipeline outside history restores the previous $?), which decides the exit code below.
            Exception? failure = Execute(commandLine.Command, commandLine.Arguments, addToHistory: true);
            if (failure is not null)
            {
                ReportException(failure);
            }

            if (_host.ShouldExit)
            {
                return _host.ExitCode;
            }

            if (!commandLine.NoExit)
            {
                return failure is null && LastCommandSucceeded() ? 0 : 1;
            }
        }

        return ReadEvalLoop(showPrompt: !commandLine.CommandFromStdin && !Console.IsInputRedirected);
    }

    /// <summary>
    /// pwsh's input loop for stdin: a complete line runs at once; an incomplete one starts block mode, which
    /// collects lines until a blank line and then runs the block (pwsh's behaviour under `-Command -`, see
    /// PowerShell/PowerShell#3223: multi-line input needs a trailing blank line). Output and errors are flushed
    /// after every command.
    /// </summary>
    private int ReadEvalLoop(bool showPrompt)
    {
        var block = new StringBuilder();
        bool inBlock = false;
        while (true)
        {
            if (showPrompt)
            {
                Console.Out.Write(inBlock ? ">> " : Prompt());
            }

            string? line = Console.In.ReadLine();
            if (line is null)
            {
                // pwsh ends the session at EOF and, without `exit`, exits by the last command's $?.
                return LastCommandSucceeded() ? 0 : 1;
            }

            string command;
            if (string.IsNullOrWhiteSpace(line))
            {
                if (!inBlock)
                {
                    continue;
                }

                command = block.ToString();
                inBlock = false;
            }
            else if (inBlock)
            {
                block.Append('\n').Append(line);
                continue;
            }
            else
            {
                command = line;
            }

            Exception? failure = Execute(command, arguments: null, addToHistory: true);
            if (failure is IncompleteParseException)
            {
                inBlock = true;
                block.Clear().Append(command);
            }
            else if (failure is not null)
            {
                ReportException(failure);
            }

            Console.Out.Flush();
            Console.Error.Flush();
            if (_host.ShouldExit)
            {
                return _host.ExitCode;
            }
        }
    }

    private int RunFile(CommandLine commandLine)
    {
        string path = commandLine.File!;
        using Pipeline pipeline = _runspace.CreatePipeline();
        var command = new Command(path, isScript: false, useLocalScope: false);
        foreach (CommandParameter parameter in commandLine.Arguments)
        {
            command.Parameters.Add(parameter);
        }

        pipeline.Commands.Add(command);

        // pwsh sets the engine's ScriptCommandProcessorShouldRethrowExit so that `exit N` in the script ends the
        // process with N; without it a script's exit only sets $LASTEXITCODE. The flag is internal, so it is set
        // by reflection on this pinned engine version, and $LASTEXITCODE is the fallback if that ever fails.
        bool rethrowExit = !commandLine.NoExit && TrySetRethrowExit(_runspace);
        bool exitFromLastExitCode = !commandLine.NoExit && !rethrowExit;
        if (exitFromLastExitCode)
        {
            _runspace.SessionStateProxy.SetVariable("global:LASTEXITCODE", null);
        }

        Exception? failure = Invoke(pipeline);
        if (failure is not null)
        {
            ReportException(failure);
        }

        Console.Out.Flush();
        Console.Error.Flush();
        if (_host.ShouldExit)
        {
            return _host.ExitCode;
        }

        if (commandLine.NoExit)
        {
            return ReadEvalLoop(showPrompt: !Console.IsInputRedirected);
        }

        if (exitFromLastExitCode && _runspace.SessionStateProxy.GetVariable("global:LASTEXITCODE") is int scriptExit)
        {
            return scriptExit;
        }

        return failure is null && LastCommandSucceeded() ? 0 : 1;
    }

    /// <summary>
    /// Run one command line with Out-Default rendering, errors merged into the output, as pwsh's
    /// Executor.ExecuteCommandHelper does. Returns the exception a terminating error raised, if any.
    /// </summary>
    private Exception? Execute(string text, IEnumerable<CommandParameter>? arguments, bool addToHistory)
    {
        using Pipeline pipeline = _runspace.CreatePipeline(text, addToHistory);
        if (arguments is not null)
        {
            foreach (CommandParameter parameter in arguments)
            {
                pipeline.Commands[0].Parameters.Add(parameter);
            }
        }

        return Invoke(pipeline);
    }

    private static Exception? Invoke(Pipeline pipeline)
    {
        pipeline.Commands[0].MergeMyResults(PipelineResultTypes.Error, PipelineResultTypes.Output);
        pipeline.Commands.Add(new Command("Out-Default", isScript: false, useLocalScope: true));
        try
        {
            pipeline.Invoke();
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    /// <summary>
    /// A terminating error: render its ErrorRecord with Out-Default ($ErrorView, ConciseView by default), like
    /// pwsh's ReportException, but onto stderr. If rendering fails, print the message plainly.
    /// </summary>
    private void ReportException(Exception exception)
    {
        object error = exception is IContainsErrorRecord withRecord
            ? withRecord.ErrorRecord
            : new ErrorRecord(exception, "ConsoleHost.ReportException", ErrorCategory.NotSpecified, null);

        EngineHostUserInterface ui = _host.EngineUI;
        ui.RouteOutputToError = true;
        try
        {
            using Pipeline pipeline = _runspace.CreatePipeline();
            pipeline.Commands.Add(new Command("Out-Default", isScript: false, useLocalScope: true));
            pipeline.Invoke(new[] { error });
        }
        catch (Exception)
        {
            Console.Error.WriteLine(exception.Message);
        }
        finally
        {
            ui.RouteOutputToError = false;
        }
    }

    private bool LastCommandSucceeded()
    {
        try
        {
            using Pipeline pipeline = _runspace.CreatePipeline("$global:?");
            foreach (PSObject result in pipeline.Invoke())
            {
                if (result?.BaseObject is bool succeeded)
                {
                    return succeeded;
                }
            }
        }
        catch (RuntimeException)
        {
        }

        return false;
    }

    private string Prompt()
    {
        try
        {
            using Pipeline pipeline = _runspace.CreatePipeline("prompt");
            string text = string.Concat(pipeline.Invoke().Select(o => o?.ToString()));
            return text.Length > 0 ? text : "PS> ";
        }
        catch (RuntimeException)
        {
            return "PS> ";
        }
    }

    private static bool TrySetRethrowExit(Runspace runspace)
    {
        try
        {
            const BindingFlags Instance = BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public;
            object? context = typeof(Runspace).GetProperty("ExecutionContext", Instance)?.GetValue(runspace);
            PropertyInfo? flag = context?.GetType().GetProperty("ScriptCommandProcessorShouldRethrowExit", Instance);
            if (context is null || flag is null)
            {
                return false;
            }

            flag.SetValue(context, true);
            return true;
        }
        catch (Exception e) when (e is TargetInvocationException or MemberAccessException or ArgumentException)
        {
            return false;
        }
    }
}
