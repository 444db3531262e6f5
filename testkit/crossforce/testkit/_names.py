"""Name, variant and postcode tables for the force simulator (``crossforce.testkit.simulate``).

Frequencies are rough relative weights written from public surname and forename rankings for England
and Wales, not exact counts: what matters to the matcher is a realistic skew (many Smiths and Patels,
a long tail of rare names), realistic spelling families, and the origins a British nominal index
actually holds. Each table is a compact "name weight" string parsed once at import, so it stays
readable and cheap to edit.

This module is over 400 lines because it is data, not logic: one table per community and kind of
name, which reads best whole and splitting would only scatter.
"""

from __future__ import annotations

from collections.abc import Mapping


def _weighted(text: str) -> tuple[tuple[str, int], ...]:
    """Parse "Name 120 Other-Name 40 ..." (underscores stand for spaces) into (name, weight) pairs."""
    parts = text.split()
    return tuple((parts[i].replace("_", " "), int(parts[i + 1])) for i in range(0, len(parts), 2))


def _groups(text: str) -> tuple[tuple[str, ...], ...]:
    """Parse "A/B/C D/E" into spelling families."""
    return tuple(tuple(member.replace("_", " ") for member in group.split("/")) for group in text.split())


GROUP_SHARES: Mapping[str, float] = {
    "british": 0.79,
    "south_asian": 0.085,
    "west_african": 0.035,
    "polish": 0.025,
    "chinese": 0.012,
    "other": 0.053,
}
"""Origin of a simulated person; decides the name pools (first-generation mixing is added on top)."""

SURNAMES: Mapping[str, tuple[tuple[str, int], ...]] = {
    "british": _weighted(
        """
        Smith 1260 Jones 950 Williams 640 Taylor 560 Brown 540 Davies 500 Evans 370 Wilson 360
        Thomas 330 Johnson 320 Roberts 310 Robinson 270 Thompson 270 Wright 260 Walker 250 White 240
        Edwards 240 Hughes 230 Green 230 Hall 230 Lewis 220 Harris 220 Clarke 210 Jackson 200
        Wood 200 Turner 190 Martin 190 Cooper 190 Hill 190 Ward 180 Morris 180 Moore 180 Clark 170
        Lee 170 King 170 Baker 170 Harrison 170 Morgan 160 Allen 160 James 160 Scott 150 Phillips 150
        Watson 150 Davis 140 Parker 140 Price 140 Bennett 140 Young 140 Griffiths 130 Mitchell 130
        Kelly 130 Cook 130 Carter 130 Richardson 130 Bailey 120 Collins 120 Bell 120 Shaw 120
        Murphy 120 Miller 120 Cox 110 Richards 110 Marshall 110 Anderson 110 Simpson 110 Ellis 110
        Adams 110 Wilkinson 100 Foster 100 Chapman 100 Powell 100 Webb 100 Rogers 100 Gray 100
        Mason 100 Hunt 100 Campbell 90 Matthews 90 Owen 90 Palmer 90 Holmes 90 Mills 90 Barnes 90
        Knight 90 Lloyd 90 Butler 90 Russell 90 Barker 90 Fisher 90 Stevens 80 Jenkins 80 Murray 80
        Dixon 80 Harvey 80 Graham 80 Pearson 80 Fletcher 80 Walsh 80 Gibson 80 Howard 80 Andrews 80
        Stewart 80 Elliott 80 Reynolds 70 Saunders 70 Payne 70 Fox 70 Ford 70 Pearce 70 Day 70
        Brooks 70 West 70 Lawrence 70 Cole 70 Atkinson 70 Bradley 70 Spencer 70 Dawson 70 Ball 70
        Burton 70 O'Brien 60 Watts 60 Rose 60 Booth 60 Perry 60 Ryan 60 Grant 60 Wells 60
        Armstrong 60 Francis 60 Rees 60 Hayes 60 Hart 60 Hudson 60 Newman 60 Barrett 60 Webster 60
        Hunter 60 Gregory 60 Carr 60 Lowe 60 Page 60 Marsh 60 Riley 60 Dunn 60 Woods 60 Parsons 60
        Berry 60 Stone 50 Reid 50 Holland 50 Hawkins 50 Harding 50 Porter 50 Robertson 50 Newton 50
        Oliver 50 Reed 50 Kennedy 50 Williamson 50 Bird 50 Gardner 50 Dean 50 Lane 50 Cooke 50
        Bates 50 Henderson 50 Parry 50 Burgess 50 Bishop 50 Walton 50 Burns 50 Nicholson 50
        Shepherd 50 Ross 50 Cross 50 Long 50 Freeman 50 Warren 50 Nicholls 50 Hamilton 50 Byrne 50
        Sutton 50 McDonald 50 Yates 40 Hodgson 40 Robson 40 Curtis 40 Hopkins 40 O'Connor 40
        Harper 40 Coleman 40 Watkins 40 Moss 40 McCarthy 40 Chambers 40 O'Neill 40 Griffin 40
        Sharp 40 Hardy 40 Wheeler 40 Potter 40 Osborne 40 Johnston 40 Gordon 40 Doyle 40 Wallace 40
        George 40 Jordan 40 Hutchinson 40 Rowe 40 Burke 40 May 40 Pritchard 40 Gilbert 40 Willis 40
        Higgins 40 Read 40 Miles 40 Stevenson 40 Stephenson 30 Hammond 40 Arnold 40 Buckley 30
        Walters 30 Hewitt 30 Barber 30 Nelson 30 Slater 30 Austin 30 Sullivan 30 Whitehead 30
        Mann 30 Frost 30 Lambert 30 Stephens 30 Blake 30 Lynch 30 Goodwin 30 Barton 30 Woodward 30
        Thomson 30 Cunningham 30 Quinn 30 Barnett 30 Baxter 30 Clayton 30 Nash 30 Greenwood 30
        Jennings 30 Holt 30 Kemp 30 Poole 30 Gallagher 30 Bond 30 Stokes 30 Tucker 30 Davidson 30
        Fowler 30 Heath 30 Norman 30 Middleton 30 Lees 30 Banks 30 French 30 Jarvis 30 MacDonald 20
        McKenzie 20 MacKenzie 15 McLean 20 MacLeod 15 McGregor 15 McKay 15 Mackintosh 10 McLaughlin 15
        McGuinness 10 McCann 15 O'Sullivan 20 O'Reilly 15 O'Donnell 15 O'Hara 10 Fitzgerald 20
        Doherty 20 Kavanagh 15 Donnelly 15 Brennan 15 Vaughan 20 Llewellyn 15 Bowen 20 Howells 15
        Prosser 10 Pugh 15 Meredith 15 Probert 10 Gwynne 10 Lloyd-Jones 8 Vaughan-Williams 5
        Baden-Powell 3 Heaton-Harris 3 Rees-Mogg 3 Bowes-Lyon 3 Ap_Rhys 3 Smyth 10 Whyte 8 Philips 8
        Mathews 8 Nichols 10 Shepard 6 Sheppard 15 Stuart 15 Neal 10 Allan 10 Mackie 8 Reade 5
        """
    ),
    "south_asian": _weighted(
        """
        Patel 400 Khan 380 Singh 260 Begum 220 Ali 220 Hussain 200 Ahmed 200 Kaur 150 Shah 120
        Akhtar 80 Rahman 80 Iqbal 70 Mahmood 60 Bibi 60 Mistry 40 Sharma 50 Kumar 50 Chowdhury 30
        Islam 40 Uddin 40 Miah 40 Malik 40 Butt 30 Raja 25 Bhatti 25 Sandhu 25 Gill 30 Dhillon 20
        Sidhu 15 Parmar 20 Mehta 20 Joshi 20 Desai 15 Chauhan 15 Rana 15 Qureshi 20 Siddiqui 15
        Choudhury 15 Hossain 20 Chaudhry 15 Rehman 15 Mahmud 10 Aziz 15 Javed 15 Anwar 15 Saleem 10
        """
    ),
    "west_african": _weighted(
        """
        Okafor 30 Okonkwo 25 Adeyemi 30 Adebayo 30 Olawale 15 Oluwole 15 Eze 25 Nwosu 20 Obi 20
        Balogun 20 Afolabi 20 Ogunleye 15 Adewale 15 Ibrahim 25 Abubakar 15 Bello 20 Okeke 20
        Chukwu 15 Nwachukwu 15 Ojo 20 Akinola 15 Oladipo 10 Babatunde 10 Onyeka 10 Ogbonna 10
        Adeleke 15 Mensah 25 Owusu 25 Boateng 20 Asante 20 Osei 20 Appiah 15 Danso 10 Agyeman 10
        """
    ),
    "polish": _weighted(
        """
        Nowak 40 Kowalski 30 Wiśniewski 25 Wójcik 25 Kowalczyk 20 Kamiński 20 Lewandowski 20
        Zieliński 20 Szymański 20 Woźniak 20 Dąbrowski 15 Kozłowski 15 Jankowski 15 Mazur 15
        Kwiatkowski 15 Krawczyk 15 Piotrowski 15 Grabowski 15 Nowakowski 10 Pawłowski 10 Michalski 10
        Wróbel 10 Zając 10 Król 10 Wieczorek 10 Jabłoński 10 Majewski 10 Olszewski 10 Stępień 8
        """
    ),
    "chinese": _weighted(
        """
        Wang 30 Wong 30 Li 30 Lee 20 Zhang 25 Cheung 15 Liu 20 Lau 15 Chen 25 Chan 25 Yang 15
        Yeung 10 Zhao 10 Chiu 8 Wu 12 Ng 12 Zhou 10 Chow 10 Lin 10 Lam 12 Ho 12 Tang 10 Leung 12
        Cheng 10 Tsang 8 Yip 8 Kwok 8 Zheng 8 Xu 8 Tsui 5 Huang 12 Sun 8 Ma 8 Hu 6
        """
    ),
    "other": _weighted(
        """
        Mohamed 30 Abdi 20 Farah 20 Hassan 25 Warsame 10 Osman 15 Yilmaz 15 Kaya 10 Demir 10
        Öztürk 8 Çelik 6 Popescu 15 Ionescu 10 Popa 10 Stan 8 Silva 20 Santos 20 Ferreira 15
        Rodrigues 15 Gonçalves 10 Pereira 12 Ivanov 10 Petrov 8 Smirnov 6 García 10 Fernández 8
        López 8 Martínez 8 Rossi 8 Russo 6 Müller 6 Schmidt 5 Kovács 5 Nagy 5 Horváth 4 Jovanović 4
        Papadopoulos 4 Murati 4 Krasniqi 6 Berisha 5 Hoxha 5 Ahmadi 8 Hosseini 6 Karimi 6 Mohammadi 6
        """
    ),
}

MALE_FORENAMES: Mapping[str, tuple[tuple[str, int], ...]] = {
    "british": _weighted(
        """
        David 300 John 280 Michael 260 Paul 240 James 260 Mark 200 Andrew 190 Richard 160 Robert 160
        Peter 150 Stephen 140 Christopher 170 Daniel 190 Matthew 150 Thomas 160 William 130
        Anthony 110 Steven 120 Jonathan 90 Simon 90 Ian 100 Gary 100 Kevin 90 Lee 90 Darren 80
        Craig 80 Jason 80 Wayne 70 Dean 60 Martin 80 Neil 60 Philip 60 Alan 70 Brian 60 Colin 50
        Graham 50 Keith 50 Nigel 40 Stuart 50 Adam 110 Ryan 120 Jamie 90 Liam 110 Jack 130
        Joshua 120 Luke 110 Connor 80 Callum 80 Kieran 60 Jordan 80 Lewis 70 Harry 90 Charlie 70
        George 70 Oliver 70 Samuel 80 Benjamin 70 Joseph 80 Alexander 60 Nathan 80 Aaron 60 Scott 70
        Sean 60 Shaun 40 Jake 70 Kyle 60 Bradley 60 Reece 40 Tyler 40 Mason 30 Alfie 30 Ethan 40
        Dylan 40 Leon 30 Carl 50 Barry 40 Terence 30 Raymond 40 Kenneth 40 Roy 20 Derek 30
        Dennis 20 Frederick 20 Edward 50 Henry 30 Albert 15 Arthur 20 Leonard 15 Ronald 20 Gordon 20
        Malcolm 20 Trevor 30 Geoffrey 20 Patrick 40 Francis 20 Tony 30 Billy 30 Danny 30 Nicholas 60
        Timothy 30 Gareth 40 Rhys 40 Dafydd 10 Iwan 8 Owain 8 Aled 8 Ciaran 10 Declan 15 Niall 10
        Eamonn 5 Ross 30 Fraser 10 Angus 8 Alasdair 5 Hamish 5 Zachary 20 Elliot 20 Jayden 15
        """
    ),
    "south_asian": _weighted(
        """
        Mohammed 120 Muhammad 80 Mohammad 30 Ahmed 30 Ali 30 Imran 30 Asif 25 Tariq 20 Zubair 15
        Bilal 20 Hamza 25 Usman 20 Adnan 20 Kamran 15 Amir 15 Arjun 15 Raj 15 Rajesh 15 Sanjay 15
        Vijay 10 Amit 15 Harpreet 15 Gurpreet 15 Jaswinder 10 Manjit 10 Sukhwinder 10 Hardeep 10
        Rohit 10 Vikram 10 Abdul 30 Shahid 15 Nadeem 15 Faisal 15 Yusuf 15 Ibrahim 15 Omar 15
        Zain 15 Ayaan 10 Rizwan 15 Arif 10 Shahzad 10 Sajid 15 Wasim 10 Jamal 10 Nasir 10
        """
    ),
    "west_african": _weighted(
        """
        Oluwaseun 15 Chukwuemeka 15 Emeka 10 Tunde 10 Babatunde 10 Adebayo 10 Olumide 10 Chinedu 10
        Ikenna 8 Obinna 8 Femi 10 Segun 8 Kehinde 8 Taiwo 8 Oluwatobi 8 Ayodele 6 Ibrahim 10 Musa 6
        Samuel 20 David 20 Daniel 20 Emmanuel 20 Joseph 15 Michael 15 Kwame 10 Kofi 10 Kwabena 6
        Yaw 6 Isaac 10 Prince 6
        """
    ),
    "polish": _weighted(
        """
        Piotr 30 Krzysztof 25 Andrzej 20 Tomasz 25 Paweł 25 Michał 25 Marcin 20 Łukasz 25 Jakub 20
        Kamil 15 Mateusz 15 Adam 15 Marek 15 Grzegorz 15 Wojciech 10 Dariusz 10 Rafał 10 Mariusz 10
        Sebastian 10 Aleksander 8 Bartosz 10 Damian 10
        """
    ),
    "chinese": _weighted(
        """
        Wei 20 Jun 15 Ming 15 Hao 10 Jian 10 Lei 10 Yang 8 Tao 8 Kai 8 Kevin 10 Jason 10 Michael 8
        David 8 Andy 8 Tony 6 Peter 6 Jonathan 5 Chi 5 Ka_Wai 5 Wing 5
        """
    ),
    "other": _weighted(
        """
        Mohamed 20 Abdi 10 Ahmed 10 Hassan 10 Ibrahim 8 Mustafa 8 Mehmet 8 Emre 5 Andrei 10 Ionut 6
        Alexandru 8 Mihai 8 João 8 José 10 Luís 6 Carlos 8 Miguel 6 Aleksandr 6 Dmitri 5 Sergei 5
        Ali 8 Reza 5 Arben 4 Luca 5 Marco 5 Stefan 5 Yusuf 6 Omar 6
        """
    ),
}

FEMALE_FORENAMES: Mapping[str, tuple[tuple[str, int], ...]] = {
    "british": _weighted(
        """
        Sarah 250 Emma 200 Laura 170 Claire 150 Rebecca 150 Nicola 130 Lisa 130 Michelle 120 Amy 140
        Hannah 130 Jessica 110 Charlotte 130 Sophie 120 Emily 110 Lauren 110 Chloe 100 Zoe 60
        Katie 90 Gemma 90 Jade 80 Leanne 60 Kelly 70 Donna 60 Karen 90 Julie 90 Susan 90 Tracey 60
        Joanne 80 Helen 90 Elizabeth 90 Margaret 70 Mary 70 Patricia 50 Jennifer 60 Linda 50
        Barbara 30 Catherine 60 Katherine 40 Victoria 70 Natalie 60 Stacey 50 Samantha 80 Kirsty 40
        Danielle 60 Amber 40 Megan 60 Olivia 50 Ellie 40 Lucy 70 Grace 40 Jasmine 30 Shannon 30
        Courtney 25 Paige 30 Chelsea 25 Louise 60 Anne 40 Jane 50 Christine 50 Deborah 50 Dawn 40
        Angela 50 Sharon 50 Wendy 30 Pauline 30 Sandra 40 Carol 40 Jacqueline 40 Rachel 80
        Kathleen 30 Dorothy 15 Joan 20 Jean 20 Sheila 20 Maureen 20 Brenda 15 Isabel 15 Isobel 10
        Amelia 30 Ava 20 Mia 25 Poppy 20 Sian 20 Siân 10 Bethan 15 Rhiannon 15 Ffion 8 Caitlin 30
        Niamh 20 Aoife 8 Siobhan 10 Eleanor 30 Abigail 30 Alexandra 25 Hayley 40 Kerry 40 Lindsay 20
        Rachael 20 Sara 25 Ann 25 Theresa 15 Teresa 15 Leah 30 Holly 40 Georgia 30 Naomi 20
        """
    ),
    "south_asian": _weighted(
        """
        Fatima 40 Ayesha 30 Aisha 30 Zainab 20 Maryam 25 Nadia 20 Samina 15 Shabana 15 Nasreen 15
        Rukhsana 10 Amina 20 Sana 20 Hina 10 Priya 20 Anjali 10 Sunita 10 Pooja 10 Neha 10 Kiran 15
        Harpreet 10 Jasvinder 10 Manpreet 10 Rajinder 10 Parveen 15 Shazia 15 Saima 15 Farzana 10
        Yasmin 20 Noor 10 Safiya 10 Sabrina 10 Salma 10 Tahira 8 Uzma 8
        """
    ),
    "west_african": _weighted(
        """
        Chiamaka 10 Ngozi 10 Adaeze 8 Folake 8 Funmilayo 8 Yetunde 8 Olamide 8 Temitope 10
        Oluwakemi 8 Blessing 15 Precious 10 Grace 15 Esther 15 Favour 10 Chioma 10 Amaka 8 Ifeoma 6
        Aisha 8 Fatima 8 Bukola 8 Abena 8 Akosua 8 Ama 8 Comfort 8 Gifty 6 Abigail 8
        """
    ),
    "polish": _weighted(
        """
        Anna 30 Katarzyna 25 Małgorzata 20 Agnieszka 20 Magdalena 20 Joanna 20 Ewa 15 Monika 15
        Aleksandra 15 Karolina 15 Natalia 15 Justyna 12 Paulina 12 Marta 12 Dorota 10 Beata 10
        Agata 10 Zofia 8 Weronika 8 Kinga 6
        """
    ),
    "chinese": _weighted(
        """
        Li 10 Mei 15 Xin 10 Ying 10 Hui 10 Jing 10 Yan 10 Xiao 8 Fang 8 Na 6 Ling 10 Jenny 10 Amy 8
        Grace 6 Vivian 6 Cindy 5 Wing 5 Mei_Ling 5 Xiaoling 4
        """
    ),
    "other": _weighted(
        """
        Fadumo 8 Hodan 8 Amina 10 Ayşe 6 Elif 6 Zeynep 6 Elena 10 Ioana 8 Maria 15 Ana 10 Inês 6
        Fátima 6 Olga 6 Natalia 6 Irina 6 Yulia 5 Zoë 4 Renée 3 Noémie 3 Sofia 8 Leila 6 Fatemeh 5
        """
    ),
}

FORENAME_MIXING = 0.12
"""Chance a person outside the "british" group has a forename from the british pool (second
generation, anglicised names), and a "british" person one from another pool."""

NICKNAMES: Mapping[str, tuple[str, ...]] = {
    "William": ("Bill", "Billy", "Will", "Willie", "Liam"),
    "Robert": ("Bob", "Bobby", "Rob", "Robbie", "Bert"),
    "Richard": ("Dick", "Rick", "Ricky", "Rich", "Richie"),
    "James": ("Jim", "Jimmy", "Jamie"),
    "John": ("Jack", "Johnny", "Jon"),
    "Michael": ("Mike", "Mick", "Mickey"),
    "Christopher": ("Chris", "Kit"),
    "Anthony": ("Tony", "Ant"),
    "Thomas": ("Tom", "Tommy"),
    "Edward": ("Ed", "Eddie", "Ted", "Ned"),
    "Alexander": ("Alex", "Sasha", "Sandy", "Alec"),
    "Aleksander": ("Olek", "Alek"),
    "Aleksandr": ("Sasha",),
    "Daniel": ("Dan", "Danny"),
    "David": ("Dave", "Davey"),
    "Stephen": ("Steve", "Stevie"),
    "Steven": ("Steve", "Stevie"),
    "Joseph": ("Joe", "Joey"),
    "Matthew": ("Matt",),
    "Andrew": ("Andy", "Drew"),
    "Peter": ("Pete",),
    "Samuel": ("Sam", "Sammy"),
    "Benjamin": ("Ben",),
    "Nicholas": ("Nick", "Nicky"),
    "Patrick": ("Pat", "Paddy"),
    "Frederick": ("Fred", "Freddie"),
    "Henry": ("Harry", "Hal"),
    "Charles": ("Charlie",),
    "Terence": ("Terry",),
    "Raymond": ("Ray",),
    "Kenneth": ("Ken", "Kenny"),
    "Leonard": ("Len", "Lenny"),
    "Ronald": ("Ron", "Ronnie"),
    "Timothy": ("Tim",),
    "Jonathan": ("Jon", "Jonny"),
    "Nathan": ("Nate",),
    "Joshua": ("Josh",),
    "Callum": ("Cal",),
    "Alfred": ("Alf", "Alfie"),
    "Zachary": ("Zach", "Zac"),
    "Gareth": ("Gaz",),
    "Margaret": ("Peggy", "Maggie", "Meg", "Margo"),
    "Elizabeth": ("Liz", "Lizzie", "Beth", "Betty", "Eliza"),
    "Catherine": ("Kate", "Katie", "Cathy"),
    "Katherine": ("Kate", "Katie", "Kathy"),
    "Kathleen": ("Kath", "Kathy"),
    "Jennifer": ("Jenny", "Jen"),
    "Rebecca": ("Becky", "Becca"),
    "Victoria": ("Vicky", "Tori"),
    "Samantha": ("Sam", "Sammie"),
    "Susan": ("Sue", "Susie"),
    "Patricia": ("Pat", "Tricia", "Trish"),
    "Deborah": ("Debbie", "Debs"),
    "Jacqueline": ("Jackie",),
    "Christine": ("Chris", "Chrissie"),
    "Alexandra": ("Alex", "Sasha", "Lexi"),
    "Aleksandra": ("Ola", "Sasha"),
    "Natalia": ("Natasha", "Nata"),
    "Natalie": ("Nat",),
    "Dorothy": ("Dot", "Dolly"),
    "Mary": ("Molly", "Polly", "May"),
    "Helen": ("Nell",),
    "Jessica": ("Jess",),
    "Charlotte": ("Lottie", "Charlie"),
    "Abigail": ("Abby", "Abi"),
    "Eleanor": ("Ellie", "Nora"),
    "Jasmine": ("Jas",),
    "Agnieszka": ("Aga",),
    "Katarzyna": ("Kasia",),
    "Małgorzata": ("Gosia",),
    "Magdalena": ("Magda",),
    "Krzysztof": ("Krzysiek",),
    "Tomasz": ("Tomek",),
    "Oluwaseun": ("Seun",),
    "Babatunde": ("Tunde",),
    "Chukwuemeka": ("Emeka",),
    "Oluwatobi": ("Tobi",),
    "Funmilayo": ("Funmi",),
    "Oluwakemi": ("Kemi",),
    "Temitope": ("Tope",),
    "Mohammed": ("Mo",),
    "Muhammad": ("Mo",),
}
"""Formal forename -> familiar forms; the simulator uses it in both directions."""

PHONETIC_FAMILIES: tuple[tuple[str, ...], ...] = _groups(
    """
    Thomson/Thompson/Tomson Stephen/Steven Stephens/Stevens Stephenson/Stevenson Philip/Phillip
    Phillips/Philips Catherine/Katherine/Kathryn/Catharine Clarke/Clark Reid/Reed/Read/Reade Gray/Grey
    Smith/Smyth Davies/Davis Matthews/Mathews Matthew/Mathew Sean/Shaun/Shawn Lewis/Louis Ann/Anne
    Sara/Sarah Rachel/Rachael Geoffrey/Jeffrey/Jeffery Aidan/Aiden Neil/Neal/Niall Alan/Allan/Allen
    Brian/Bryan Carl/Karl Mark/Marc Isabel/Isobel/Isabelle Lindsay/Lindsey/Lyndsey Leanne/Lianne
    Stuart/Stewart Shepherd/Shepard/Sheppard Jon/John Nicola/Nichola Nicholls/Nichols Tracey/Tracy
    Kelly/Kelley Chloe/Khloe Jayden/Jaden/Jaiden Caitlin/Kaitlyn/Katelyn Hayley/Haley/Hailey
    Stacey/Stacy Teresa/Theresa Gemma/Jemma Elliot/Elliott/Eliot White/Whyte Kerry/Kerri
    McDonald/MacDonald/Macdonald McKenzie/MacKenzie/Mackenzie McLean/MacLean/Maclean
    McLeod/MacLeod/Macleod McGregor/MacGregor McKay/MacKay Mackintosh/McIntosh Reece/Rhys/Rees
    Jeffreys/Jefferies Brown/Browne Cooke/Cook Lloyd/Loyd Sian/Shan Siobhan/Shivaun Niamh/Neve
    Craig/Kraig Dean/Deane Gareth/Garath Graham/Graeme Colin/Collin Keith/Keeth Kirsty/Kirstie
    Sophie/Sophia Lucy/Lucie Katie/Katy Amy/Aimee Zoe/Zoey Leah/Lea Holly/Hollie Abigail/Abigayle
    """
)
"""Names that sound alike and are commonly written either way."""

TRANSLITERATIONS: tuple[tuple[str, ...], ...] = _groups(
    """
    Mohammed/Muhammad/Mohamed/Mohammad/Muhammed/Mohamad Ahmed/Ahmad/Ahmet Hussain/Hussein/Husain/Hossain
    Yusuf/Yousef/Youssef/Yusef Aleksandr/Alexander/Aleksander/Oleksandr/Alexandr Aleksandra/Alexandra
    Dmitri/Dmitry/Dimitri Sergei/Sergey Yulia/Julia/Iuliia Natalia/Natalya Andrei/Andrey/Andrii
    Chowdhury/Choudhury/Chaudhry/Chaudhary/Choudhry Rahman/Rehman Mahmood/Mahmud/Mehmood
    Siddiqui/Siddiqi/Siddique Qureshi/Kureshi/Quraishi Aisha/Ayesha/Aysha/Aishah Fatima/Fatimah/Fatma
    Zainab/Zaynab Omar/Umar Usman/Osman/Uthman Abdul/Abdool Ibrahim/Ebrahim/Ibraheem Hamza/Hamzah
    Imran/Imraan Bilal/Belal Hassan/Hasan Amina/Aminah Maryam/Mariam Yasmin/Yasmeen/Jasmin
    Zhang/Cheung/Chang Chen/Chan Wang/Wong Li/Lee Liu/Lau Zhou/Chow/Chau Lin/Lam Wu/Ng Yang/Yeung
    Zhao/Chiu Xu/Hsu/Tsui Huang/Wong Zheng/Cheng Oluwaseun/Oluseun Olumide/Olumuyiwa
    Ivanov/Ivanoff Petrov/Petroff Yilmaz/Yılmaz Mehmet/Mehmed Abdi/Abdy Farah/Farrah
    """
)
"""Spellings of one name carried over from another script; none is more correct than another."""

ACCENTED: Mapping[str, str] = {
    "Zoe": "Zoë",
    "Jose": "José",
    "Sean": "Seán",
    "Sian": "Siân",
    "Renee": "Renée",
    "Chloe": "Chloë",
    "Noemie": "Noémie",
    "Ines": "Inês",
    "Fatima": "Fátima",
    "Lukasz": "Łukasz",
    "Pawel": "Paweł",
    "Michal": "Michał",
    "Rafal": "Rafał",
    "Malgorzata": "Małgorzata",
    "Wojcik": "Wójcik",
    "Wisniewski": "Wiśniewski",
    "Kaminski": "Kamiński",
    "Zielinski": "Zieliński",
    "Szymanski": "Szymański",
    "Wozniak": "Woźniak",
    "Dabrowski": "Dąbrowski",
    "Kozlowski": "Kozłowski",
    "Pawlowski": "Pawłowski",
    "Jablonski": "Jabłoński",
    "Wrobel": "Wróbel",
    "Zajac": "Zając",
    "Krol": "Król",
    "Ciaran": "Ciarán",
    "Siobhan": "Siobhán",
    "Eamonn": "Éamonn",
    "Muller": "Müller",
    "Ozturk": "Öztürk",
    "Celik": "Çelik",
    "Goncalves": "Gonçalves",
    "Garcia": "García",
    "Fernandez": "Fernández",
    "Lopez": "López",
    "Martinez": "Martínez",
    "Luis": "Luís",
    "Joao": "João",
    "Ayse": "Ayşe",
    "Yilmaz": "Yılmaz",
    "Jovanovic": "Jovanović",
    "Kovacs": "Kovács",
    "Horvath": "Horváth",
    "Stepien": "Stępień",
}
"""ASCII spelling -> the accented one; sightings drop or add the marks."""

POSTCODE_AREAS: Mapping[str, tuple[str, ...]] = {
    "avon-and-somerset": ("BS", "BA", "TA"),
    "bedfordshire": ("MK", "LU", "SG"),
    "cambridgeshire": ("CB", "PE"),
    "cheshire": ("CH", "CW", "WA"),
    "city-of-london": ("EC",),
    "cleveland": ("TS",),
    "cumbria": ("CA", "LA"),
    "derbyshire": ("DE", "S"),
    "devon-and-cornwall": ("EX", "PL", "TQ", "TR"),
    "dorset": ("BH", "DT"),
    "durham": ("DH", "DL"),
    "dyfed-powys": ("SA", "LD", "SY"),
    "essex": ("CM", "CO", "SS"),
    "gloucestershire": ("GL",),
    "greater-manchester": ("M", "BL", "OL", "SK", "WN"),
    "gwent": ("NP",),
    "hampshire": ("SO", "PO", "RG"),
    "hertfordshire": ("AL", "HP", "SG", "WD"),
    "humberside": ("HU", "DN"),
    "kent": ("CT", "ME", "TN", "DA"),
    "lancashire": ("PR", "BB", "FY", "LA"),
    "leicestershire": ("LE",),
    "lincolnshire": ("LN", "PE", "NG"),
    "merseyside": ("L", "CH", "WA"),
    "metropolitan": ("E", "N", "NW", "SE", "SW", "W", "WC", "BR", "CR", "EN", "HA", "IG", "KT", "RM", "UB"),
    "norfolk": ("NR", "PE"),
    "north-wales": ("LL", "CH"),
    "north-yorkshire": ("YO", "HG", "DL"),
    "northamptonshire": ("NN",),
    "northumbria": ("NE", "SR"),
    "nottinghamshire": ("NG",),
    "south-wales": ("CF", "SA"),
    "south-yorkshire": ("S", "DN"),
    "staffordshire": ("ST", "WS", "DE"),
    "suffolk": ("IP", "CO"),
    "surrey": ("GU", "KT", "RH"),
    "sussex": ("BN", "RH", "TN"),
    "thames-valley": ("OX", "RG", "MK", "SL", "HP"),
    "warwickshire": ("CV", "B"),
    "west-mercia": ("WR", "HR", "SY", "TF"),
    "west-midlands": ("B", "CV", "DY", "WV", "WS"),
    "west-yorkshire": ("LS", "BD", "HD", "HX", "WF"),
    "wiltshire": ("SN", "SP", "BA"),
}
"""Postcode areas a force's area mostly covers (outward code letters)."""
