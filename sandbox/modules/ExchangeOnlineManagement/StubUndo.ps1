<#
  STUB cmdlets that undo a run needs (issue 17), dot-sourced into ExchangeOnlineManagement.psm1. Parameters
  follow Microsoft's parameter sets for what an admin (and exo-workflow-sync) uses; behaviour follows
  Exchange Online where it matters:

    Remove-MailboxPermission     -Identity -User -AccessRights [-InheritanceType] [-Deny]; an entry that is
                                 not there gives Exchange's warning ("the ACE doesn't exist"), no error.
    Remove-RecipientPermission   -Identity -Trustee -AccessRights SendAs [-Deny]; absent -> the same warning.
    Add-DistributionGroupMember  -Identity -Member [-BypassSecurityGroupManagerCheck]; a member already in
                                 the group -> MemberAlreadyExistsException; Microsoft 365 groups refused.
    Enable-InboxRule             -Identity -Mailbox (required app-only); already enabled -> warning.
#>

function Remove-MailboxPermission {
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High', DefaultParameterSetName = 'AccessRights')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        $Identity,
        [Parameter(Mandatory, ParameterSetName = 'AccessRights')]
        $User,
        [Parameter(Mandatory, ParameterSetName = 'AccessRights')]
        [ValidateSet('ChangeOwner', 'ChangePermission', 'DeleteItem', 'ExternalAccount', 'FullAccess', 'ReadPermission')]
        [string[]]$AccessRights,
        [Parameter(ParameterSetName = 'AccessRights')]
        [ValidateSet('None', 'All', 'Children', 'Descendents', 'SelfAndChildren')]
        [string]$InheritanceType = 'All',
        [Parameter(ParameterSetName = 'AccessRights')]
        [switch]$Deny,
        [Parameter(ParameterSetName = 'AccessRights')]
        [switch]$BypassMasterAccountSid,
        [Parameter(ParameterSetName = 'Instance', Mandatory)]
        $Instance,
        [switch]$GroupMailbox,
        [switch]$IgnoreDefaultScope,
        [switch]$SoftDeletedMailbox
    )
    try {
    $state = Enter-StubCmdlet -Name 'Remove-MailboxPermission' -Bound $PSBoundParameters -Cmdlet $PSCmdlet -Data
    $mailbox = Resolve-StubSingle -Cmdlet $PSCmdlet -State $state -Identity $Identity -Kind 'mailbox' -CmdletName 'RemoveMailboxPermission'
    if ($null -eq $mailbox) { return }
    if ($PSCmdlet.ParameterSetName -eq 'Instance') {
        Write-StubError $PSCmdlet 'Removing by -Instance is not supported by the ExchangeOnlineManagement stub.' 'NotImplemented' $Instance 'NotImplemented'
        return
    }
    $principal = Resolve-StubPrincipal -Cmdlet $PSCmdlet -State $state -Identity $User
    if ($null -eq $principal) { return }
    $list = Get-StubList $state 'mailboxPermissions'
    $changed = $false
    for ($i = $list.Count - 1; $i -ge 0; $i--) {
        $entry = $list[$i]
        if ($entry['mailbox'] -ne $mailbox['guid'] -or $entry['user'] -ne $principal['guid'] -or [bool]$entry['deny'] -ne [bool]$Deny) { continue }
        $rights = [System.Collections.Generic.List[object]]::new()
        foreach ($right in @($entry['accessRights'])) { if ($AccessRights -notcontains [string]$right) { $rights.Add([string]$right) } }
        if ($rights.Count -eq @($entry['accessRights']).Count) { continue }
        if (-not $PSCmdlet.ShouldProcess([string]$mailbox['name'], "Remove-MailboxPermission $($AccessRights -join ',') for $($principal['name'])")) { return }
        if ($rights.Count -eq 0) { $list.RemoveAt($i) } else { $entry['accessRights'] = $rights }
        $changed = $true
    }
    if (-not $changed) {
        $PSCmdlet.WriteWarning("Can't remove the access control entry on the object `"$($mailbox['name'])`" for account `"$($principal['name'])`" because the ACE doesn't exist on the object.")
        return
    }
    Save-StubState $state
    } finally { Unlock-StubState }
}

function Remove-RecipientPermission {
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        $Identity,
        [Parameter(Mandatory)]
        $Trustee,
        [Parameter(Mandatory)]
        [ValidateSet('SendAs')]
        [string[]]$AccessRights,
        [switch]$Deny,
        [switch]$SkipDomainValidationForMailContact,
        [switch]$SkipDomainValidationForMailUser,
        [switch]$SkipDomainValidationForSharedMailbox
    )
    try {
    $state = Enter-StubCmdlet -Name 'Remove-RecipientPermission' -Bound $PSBoundParameters -Cmdlet $PSCmdlet -Data
    $recipient = Resolve-StubSingle -Cmdlet $PSCmdlet -State $state -Identity $Identity -Kind 'recipient' -CmdletName 'RemoveRecipientPermission'
    if ($null -eq $recipient) { return }
    $principal = Resolve-StubPrincipal -Cmdlet $PSCmdlet -State $state -Identity $Trustee
    if ($null -eq $principal) { return }
    $type = if ($Deny) { 'Deny' } else { 'Allow' }
    $list = Get-StubList $state 'recipientPermissions'
    $index = -1
    for ($i = 0; $i -lt $list.Count; $i++) {
        $entry = $list[$i]
        if ($entry['recipient'] -eq $recipient['guid'] -and $entry['trustee'] -eq $principal['guid'] -and $entry['accessControlType'] -eq $type) { $index = $i; break }
    }
    if ($index -lt 0) {
        $PSCmdlet.WriteWarning("Can't remove the access control entry on the object `"$($recipient['name'])`" for account `"$(Get-StubPrincipalLabel $state $principal['guid'])`" because the ACE doesn't exist on the object.")
        return
    }
    if (-not $PSCmdlet.ShouldProcess([string]$recipient['name'], "Remove-RecipientPermission SendAs for $($principal['name'])")) { return }
    $list.RemoveAt($index)
    Save-StubState $state
    } finally { Unlock-StubState }
}

function Add-DistributionGroupMember {
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        $Identity,
        [Parameter(Mandatory)]
        $Member,
        [switch]$BypassSecurityGroupManagerCheck
    )
    try {
    $state = Enter-StubCmdlet -Name 'Add-DistributionGroupMember' -Bound $PSBoundParameters -Cmdlet $PSCmdlet -Data
    $target = Resolve-StubMembershipChange -Cmdlet $PSCmdlet -State $state -Identity $Identity -Member $Member -Bypass $BypassSecurityGroupManagerCheck -Verb 'Add'
    if ($null -eq $target) { return }
    $group = $target.group
    $recipient = $target.recipient
    $members = Get-StubList $group 'members' -Create
    foreach ($existing in $members) {
        if ([string]::Equals([string]$existing, [string]$recipient['guid'], [System.StringComparison]::OrdinalIgnoreCase)) {
            $record = New-StubErrorRecord -ExceptionType 'MemberAlreadyExistsException' -Message "The recipient `"$($recipient['name'])`" is already a member of the group `"$($group['name'])`"." -Category 'NotSpecified' -Target $Member -CmdletName 'AddDistributionGroupMember'
            $PSCmdlet.WriteError($record)
            return
        }
    }
    if ($PSCmdlet.ShouldProcess([string]$group['name'], "Add-DistributionGroupMember $($recipient['name'])")) {
        $members.Add([string]$recipient['guid'])
        $script:Tenant.Index = $null
        Save-StubState $state
    }
    } finally { Unlock-StubState }
}

function Enable-InboxRule {
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        $Identity,
        $Mailbox,
        [switch]$AlwaysDeleteOutlookRulesBlob,
        [switch]$Force
    )
    Set-StubInboxRuleEnabled -Cmdlet $PSCmdlet -Bound $PSBoundParameters -Identity $Identity -Mailbox $Mailbox -Enabled $true
}
