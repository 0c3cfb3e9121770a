<#
  The script admins run today (the baseline of issue 14's benchmark): one session, one leaver after
  another, every distribution list's members read for every leaver. Connects once, converts the
  mailbox, grants the manager FullAccess and SendAs, then walks the lists and removes the leaver from
  each list it is in. Prints one JSON line: { leavers, seconds }.
    pwsh -NoProfile -File bench/referenceScript.ps1 -LeaversFile <one address per line> -Manager <address>
      -Organization <domain> -AppId <guid> -CertificateFile <pfx>
#>
param(
    [Parameter(Mandatory)][string]$LeaversFile,
    [Parameter(Mandatory)][string]$Manager,
    [Parameter(Mandatory)][string]$Organization,
    [Parameter(Mandatory)][string]$AppId,
    [Parameter(Mandatory)][string]$CertificateFile
)
$ErrorActionPreference = 'Stop'
$WarningPreference = 'SilentlyContinue'
$started = [System.Diagnostics.Stopwatch]::StartNew()
Import-Module ExchangeOnlineManagement
$certificate = [System.Security.Cryptography.X509Certificates.X509Certificate2]::new($CertificateFile, '', 'EphemeralKeySet')
Connect-ExchangeOnline -AppId $AppId -Organization $Organization -Certificate $certificate -ShowBanner:$false
$leavers = @(Get-Content -Path $LeaversFile | Where-Object { $_ -ne '' })
foreach ($leaver in $leavers) {
    $mailbox = Get-Mailbox -Identity $leaver
    Set-Mailbox -Identity $mailbox.PrimarySmtpAddress -Type Shared
    $null = Add-MailboxPermission -Identity $mailbox.PrimarySmtpAddress -User $Manager -AccessRights FullAccess -InheritanceType All -AutoMapping $false
    $null = Add-RecipientPermission -Identity $mailbox.PrimarySmtpAddress -Trustee $Manager -AccessRights SendAs -Confirm:$false
    $lists = Get-Recipient -RecipientTypeDetails MailUniversalDistributionGroup -ResultSize Unlimited
    foreach ($list in $lists) {
        $members = Get-DistributionGroupMember -Identity $list.PrimarySmtpAddress -ResultSize Unlimited
        if (@($members | Where-Object { $_.PrimarySmtpAddress -eq $mailbox.PrimarySmtpAddress }).Count -gt 0) {
            Remove-DistributionGroupMember -Identity $list.PrimarySmtpAddress -Member $mailbox.PrimarySmtpAddress -BypassSecurityGroupManagerCheck -Confirm:$false
        }
    }
}
Disconnect-ExchangeOnline -Confirm:$false
[Console]::Out.WriteLine((@{ leavers = $leavers.Count; seconds = $started.Elapsed.TotalSeconds } | ConvertTo-Json -Compress))
